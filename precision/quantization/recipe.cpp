#include <mantissa/precision/quantization/recipe.h>

#include <mantissa/core/error.h>

#include <mantissa/precision/quantization/current_scaling.h>
#include <mantissa/precision/quantization/delayed_scaling.h>
#include <mantissa/precision/quantization/fp8_block_scaling.h>
#include <mantissa/precision/quantization/mxfp8_scaling.h>
#include <mantissa/precision/quantization/nvfp4_scaling.h>

namespace mantissa::precision {

std::shared_ptr<const QuantizationRecipe> make_quantization_recipe(const Fp8Recipe& recipe) {
  // As TE's DelayedScaling.__post_init__ asserts.
  MANTISSA_CHECK(recipe.scaling != Fp8Scaling::delayed || recipe.backward_override == BackwardOverride::none,
                 "precision", "backward_override '{}' needs a recipe without an amax history (current, mxfp8, "
                 "fp8-block or nvfp4); delayed scaling takes only 'none'",
                 backward_override_name(recipe.backward_override));
  if (recipe.scaling == Fp8Scaling::current) return std::make_shared<CurrentScaling>(recipe);
  if (recipe.scaling == Fp8Scaling::mxfp8) return std::make_shared<Mxfp8Scaling>(recipe);
  if (recipe.scaling == Fp8Scaling::block) return std::make_shared<Fp8BlockScaling>(recipe);
  if (recipe.scaling == Fp8Scaling::nvfp4) return std::make_shared<Nvfp4Scaling>(recipe);
  return std::make_shared<DelayedScaling>(recipe);
}

}  // namespace mantissa::precision
