// The sections whose rows are built in files of their own (ConfigSchema.cc's buildFields() calls
// each in the table's order): one file per concern.
#pragma once

#include <vector>

#include "config/ConfigSchema.h"

namespace px::config {

void addXcapGroupFields(std::vector<ConfigField>& f);  // groups.xcap.*: XcapGroupFields.cc
void addCallFields(std::vector<ConfigField>& f);       // calls.*: CallFields.cc
void addCamaraFields(std::vector<ConfigField>& f);     // camara.*: CamaraFields.cc
void addStoreFields(std::vector<ConfigField>& f);      // store.*: StoreFields.cc

}  // namespace px::config
