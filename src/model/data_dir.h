// Where circuitscan's bundled data lives (data/gpt2-tokenizer, data/truth): $CIRCUITSCAN_DATA_DIR
// when set (the installed Python package points it at its own copy, since an installed module
// cannot count on the source tree it was built from), else the source tree's data/.
#pragma once
#include <string>

namespace cs {

std::string data_dir();

}  // namespace cs
