"""Mixtral-8x7B and Qwen3-30B-A3B from their configs, 4096 tokens (DeepSeek-V3: deepseek_v3.py)."""

from transformers import MixtralConfig, MixtralForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM

# flopsight: input={"input_ids": (1, 4096)}, dtype="long"
mixtral_8x7b = MixtralForCausalLM(MixtralConfig())

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
# flopsight: input={"input_ids": (1, 4096)}, dtype="long"
qwen3 = Qwen3MoeForCausalLM(qwen3_30b_a3b)
