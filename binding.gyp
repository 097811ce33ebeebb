{
  # The addon: the same native/ core sources as CMakeLists.txt, plus the thin native/binding layer.
  "targets": [
    {
      "target_name": "parlayx_gateway",
      # Every .cc of native/ but the tests: the same modules CMakeLists.txt builds, plus binding.
      "sources": [
        "<!@(ls -1 native/address/*.cc native/call/*.cc native/config/*.cc native/presence/*.cc native/sip/*.cc native/usage/*.cc native/store/*.cc native/notify/*.cc native/policy/*.cc native/gateway/*.cc native/cluster/*.cc native/parlayx/*.cc native/binding/*.cc)"
      ],
      "include_dirs": [
        "native"
      ],
      # node-addon-api with C++ exceptions, included as a system header (-isystem) so that its
      # headers do not trip our -Werror warnings; this replaces its node_addon_api_except target.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-std=gnu++14", "-std=gnu++17", "-fno-rtti", "-fno-exceptions"],
      "cflags_cc": [
        "-std=c++17",
        "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wno-sign-conversion", "-Werror",
        "-Wno-unused-parameter",
        "-Wno-dangling-pointer",
        "-isystem", "<!(node -p \"require('path').dirname(require.resolve('node-addon-api/napi.h'))\")",
        "<!@(pkg-config --cflags-only-I sofia-sip-ua yaml-cpp libpq | sed 's/-I/-isystem /g')"
      ],
      # Not libpq: only its headers (above). native/store/LibPq.cc dlopen()s libpq.so.5 when
      # PostgreSQL is first used, so that an SQLite-only gateway never loads it and its ~18
      # dependent libraries. dlopen is in glibc's libc itself since 2.34 (no -ldl).
      "libraries": [
        "<!@(pkg-config --libs sofia-sip-ua yaml-cpp sqlite3)",
        "-lexpat",
        "-lpthread"
      ]
    }
  ]
}
