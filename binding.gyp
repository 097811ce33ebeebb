{
  # The addon: the same native/ core sources as CMakeLists.txt, plus the thin native/binding layer.
  "targets": [
    {
      "target_name": "parlayx_gateway",
      "sources": [
        "native/address/Address.cc",
        "native/config/GatewayConfig.cc",
        "native/presence/PresenceDocument.cc",
        "native/sip/PresenceWatcher.cc",
        "native/sip/Sofia.cc",
        "native/usage/UsageStatus.cc",
        "native/usage/ServiceData.cc",
        "native/usage/Catalogue.cc",
        "native/usage/Segmenter.cc",
        "native/usage/RecordId.cc",
        "native/usage/UtcTime.cc",
        "native/store/Sqlite.cc",
        "native/store/RecordTime.cc",
        "native/store/UsageStore.cc",
        "native/store/UsageRecorder.cc",
        "native/store/NotificationStore.cc",
        "native/notify/NotificationEngine.cc",
        "native/binding/Config.cc",
        "native/binding/UsageDatabase.cc",
        "native/binding/NotificationsJs.cc",
        "native/binding/Addon.cc"
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
        "<!@(pkg-config --cflags-only-I sofia-sip-ua yaml-cpp | sed 's/-I/-isystem /g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs sofia-sip-ua yaml-cpp sqlite3)",
        "-lexpat",
        "-lpthread"
      ]
    }
  ]
}
