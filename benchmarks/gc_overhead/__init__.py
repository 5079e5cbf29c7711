"""What Gradient Centralization costs per training step, on every Keras backend.

Run it as ``python -m benchmarks.gc_overhead`` (see ``benchmarks/README.md``
and ``--help``). The modules:

- :mod:`.specs`: the benchmarked models, their batches and optimizers;
- :mod:`.arms`: the ways to train them with and without GC, one callable each;
- :mod:`.keras_steps`: one compiled Keras training step, timed, per backend;
- :mod:`.timing`: interleaved blocks, paired ratio intervals, copy bandwidth;
- :mod:`.compare`: each arm against its baseline, with its family's A/A control;
- :mod:`.gc_pass`: the GC pass alone against its memory-bandwidth floor;
- :mod:`.peer_arm`, :mod:`.peers`: what a peer arm is, and which peers a run
  includes;
- :mod:`.optax_peer`, :mod:`.torch_peer`: GC as optax and the paper's official
  PyTorch code do it, each against its own baseline;
- :mod:`.machine`: the machine, the library versions and the load;
- :mod:`.report`: the Markdown summary and the README's tables;
- :mod:`.pool`: several runs' copies pooled into one results file;
- :mod:`.run`: the command line and the run itself.

``python -m`` imports Keras quietly first (TensorFlow's C++ start-up log is
not printed); nothing imports TensorFlow unless it is the backend.
"""
