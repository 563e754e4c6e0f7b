#include <mantissa/precision/quantization/recipe.h>

#include <mantissa/precision/quantization/current_scaling.h>
#include <mantissa/precision/quantization/delayed_scaling.h>
#include <mantissa/precision/quantization/fp8_block_scaling.h>
#include <mantissa/precision/quantization/mxfp8_scaling.h>
#include <mantissa/precision/quantization/nvfp4_scaling.h>

namespace mantissa::precision {

std::shared_ptr<const QuantizationRecipe> make_quantization_recipe(const Fp8Recipe& recipe) {
  if (recipe.scaling == Fp8Scaling::current) return std::make_shared<CurrentScaling>(recipe);
  if (recipe.scaling == Fp8Scaling::mxfp8) return std::make_shared<Mxfp8Scaling>(recipe);
  if (recipe.scaling == Fp8Scaling::block) return std::make_shared<Fp8BlockScaling>(recipe);
  if (recipe.scaling == Fp8Scaling::nvfp4) return std::make_shared<Nvfp4Scaling>(recipe);
  return std::make_shared<DelayedScaling>(recipe);
}

}  // namespace mantissa::precision
