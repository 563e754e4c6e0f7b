#include <mantissa/precision/quantization/recipe.h>

#include <mantissa/precision/quantization/current_scaling.h>
#include <mantissa/precision/quantization/delayed_scaling.h>

namespace mantissa::precision {

std::shared_ptr<const QuantizationRecipe> make_quantization_recipe(const Fp8Recipe& recipe) {
  if (recipe.scaling == Fp8Scaling::current) return std::make_shared<CurrentScaling>(recipe);
  return std::make_shared<DelayedScaling>(recipe);
}

}  // namespace mantissa::precision
