from gptlib import TinyGPT

gpt = TinyGPT()  # flopsight: input=(1, 16), dtype="long"
