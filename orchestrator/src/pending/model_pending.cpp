// TEMPORARY link stand-in until the model branch lands (see sampler_pending.cpp).
#include "cinergy/model/analyze.hpp"

namespace cinergy::model {
Result<nlohmann::json> analyze(const AnalyzeOptions&) {
  return fail("the model is not built into this binary yet");
}
}  // namespace cinergy::model
