"""A small T5 built from its config: the encoder and the decoder read inputs of different lengths."""

from transformers import T5Config, T5ForConditionalGeneration

config = T5Config(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4, vocab_size=1000)
# flopsight: input={"input_ids": (1, 48), "decoder_input_ids": (1, 12)}, dtype="long"
t5 = T5ForConditionalGeneration(config)
