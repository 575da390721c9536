"""Exit 0 when the installed llama-cpp-python runs the bundled model on this CPU (load + a few tokens).

A build compiled with -march=native on a virtual machine that advertises AVX-512 without enabling it dies with
SIGILL inside libggml-cpu; the Makefile runs this in a subprocess and rebuilds llama-cpp-python portably when it
does not exit 0.
"""

from llama_cpp import Llama

from semtrace.llms.llamacpp import default_model_path

llm = Llama(model_path=str(default_model_path()), n_ctx=256, verbose=False)
out = llm.create_chat_completion(messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, temperature=0)
print("llama-cpp-python works here:", repr(out["choices"][0]["message"]["content"]))
