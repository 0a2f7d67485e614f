# The ipcx command-line tool, run as a user runs it.
ipcx_add_test(test_cli SOURCES test_cli.c TIMEOUT 120)
