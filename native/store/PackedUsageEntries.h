// The usage entries of one record() call as one string (js/usage.js packs them): one string
// crossing from JS to C++ instead of an object per entry and one per attribute set, whose
// property-by-property conversion was most of the ~6 µs a record cost the JS thread.
//
// Format: a sequence of fields, each "<length>:<text>", the length in UTF-16 code units (what
// JS's String#length counts), so any text, control characters and unpaired surrogates included,
// passes unchanged. Per entry: globalId, eventType, statusCode (decimal), recordTimeMs (decimal),
// the number of attributes (decimal), then that many pairs of name and value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/UsageRecorder.h"

namespace px {

// Decodes `packed` (UTF-16, as JS holds it) into entries, texts as UTF-8 (an unpaired surrogate
// becomes U+FFFD, as V8's own UTF-8 conversion does). Throws std::invalid_argument, naming the
// entry and what is wrong, for anything that is not the format above.
std::vector<UsageEntry> unpackUsageEntries(std::u16string_view packed);

}  // namespace px
