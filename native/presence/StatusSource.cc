#include "presence/StatusSource.h"

#include <utility>

#include "presence/PresenceDocument.h"
#include "presence/RegInfoDocument.h"

namespace px {

EventPackage presencePackage(std::vector<std::string> busyActivities) {
  return EventPackage{"presence", "application/pidf+xml",
                      std::make_shared<PresenceDocumentMapper>(std::move(busyActivities)), ""};
}

EventPackage regPackage() {
  return EventPackage{"reg", "application/reginfo+xml", std::make_shared<RegInfoDocumentMapper>(),
                      ""};
}

}  // namespace px
