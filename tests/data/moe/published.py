"""Mixture-of-Experts models at their published sizes, from their configs (built on meta)."""

from transformers import (
    DeepseekV3Config,
    DeepseekV3ForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)

# flopsight: input={"input_ids": (1, 8)}, dtype="long"
mixtral = MixtralForCausalLM(MixtralConfig())
# flopsight: input={"input_ids": (1, 8)}, dtype="long"
deepseek = DeepseekV3ForCausalLM(DeepseekV3Config())

# Qwen3-30B-A3B's config.json (Qwen3MoeConfig()'s defaults are another, smaller model).
qwen3_30b_a3b = Qwen3MoeConfig(
    vocab_size=151936,
    hidden_size=2048,
    intermediate_size=6144,
    moe_intermediate_size=768,
    num_hidden_layers=48,
    num_attention_heads=32,
    num_key_value_heads=4,
    head_dim=128,
    num_experts=128,
    num_experts_per_tok=8,
    decoder_sparse_step=1,
    mlp_only_layers=[],
    tie_word_embeddings=False,
    max_position_embeddings=40960,
)
# flopsight: input={"input_ids": (1, 8)}, dtype="long"
qwen = Qwen3MoeForCausalLM(qwen3_30b_a3b)
