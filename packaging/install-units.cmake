# Install-time script (install(SCRIPT) in the top-level CMakeLists.txt): installs the
# systemd units with ExecStart= pointing at the sbin directory of the prefix given at
# *install* time (`cmake --install --prefix P`, `make install PREFIX=P`), which
# `make release` does not know when it configures. file(INSTALL) honours DESTDIR.
# Inputs (set by install(CODE) just before): NSM_PACKAGING_DIR, NSM_BINARY_DIR,
# NSM_UNITS (unit names), NSM_SYSTEMD_UNIT_DIR (empty: <prefix>/lib/systemd/system;
# relative: under the prefix).
if(NSM_SYSTEMD_UNIT_DIR STREQUAL "")
  set(unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
elseif(IS_ABSOLUTE "${NSM_SYSTEMD_UNIT_DIR}")
  set(unit_dir "${NSM_SYSTEMD_UNIT_DIR}")
else()
  set(unit_dir "${CMAKE_INSTALL_PREFIX}/${NSM_SYSTEMD_UNIT_DIR}")
endif()
set(NSM_SBINDIR "${CMAKE_INSTALL_PREFIX}/sbin")  # where install(TARGETS ... sbin) puts them
foreach(unit IN LISTS NSM_UNITS)
  set(generated "${NSM_BINARY_DIR}/packaging/${unit}")
  configure_file("${NSM_PACKAGING_DIR}/systemd/${unit}.in" "${generated}" @ONLY)
  file(INSTALL "${generated}" DESTINATION "${unit_dir}"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
