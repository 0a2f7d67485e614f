# Test registrations, one file per area so parallel work never collides.
include(${CMAKE_CURRENT_LIST_DIR}/mailbox_tests.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/cli_tests.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/core_tests.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/crash_tests.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/region_tests.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/channel_tests.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/direct_tests.cmake OPTIONAL)
