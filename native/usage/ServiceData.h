// The SERVICEDATA column text of a usage record: "key=value;key=value..." (seeds/004 table 1).
//
// Escaping. The source document gives no escaping, but requesters, targets and endpoints are
// free text, so a value holding ';' or '=' would make the record unreadable. We escape with a
// backslash, inside keys and values alike:
//   '\' -> "\\"    ';' -> "\;"    '=' -> "\="
// Nothing else is escaped: every other byte (newlines, NUL, UTF-8, invalid UTF-8) passes through.
// Text without those three characters therefore reads exactly as the TWSS format.
//
// The grammar is strict so that decode(text) succeeds exactly when text == encode(decode(text)):
//   text  = "" | pair *( ";" pair )
//   pair  = key "=" value          ; exactly one unescaped '=' per pair
//   key   = 1*char                 ; not empty
//   value = *char                  ; may be empty
//   char  = any byte except '\' ';' '=' | "\\" | "\;" | "\="
// and keys are unique. Anything else (dangling '\', "\x", a pair without '=', a second unescaped
// '=', an empty pair such as a trailing ';', an empty or repeated key) is malformed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace px::servicedata {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Encodes the pairs in the given order. Throws std::invalid_argument for an empty or a repeated
// key (decode would refuse the result). No pairs give "".
std::string encode(const Pairs& pairs);

// Decodes text written by encode, preserving order. nullopt when malformed (see above).
std::optional<Pairs> decode(std::string_view text);

// Appends `text` escaped as above to `out` (exposed for the builder, which avoids a Pairs copy).
void appendEscaped(std::string& out, std::string_view text);

}  // namespace px::servicedata
