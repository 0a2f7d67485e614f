# Files planted under object names (FIFOs, symlinks, directories, sockets,
# empty and truncated files): refused at once, never blocked on.
ipcx_add_test(test_planted SOURCES test_planted.c TIMEOUT 60)
