"""DeepSeek-V3 (671 B parameters, 37 B active) from its default config, 4096 tokens."""

from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

# flopsight: input={"input_ids": (1, 4096)}, dtype="long"
deepseek_v3 = DeepseekV3ForCausalLM(DeepseekV3Config())
