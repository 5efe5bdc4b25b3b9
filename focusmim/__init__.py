"""focusmim: masked image modeling across eye movements (FocusMIM) and learned
adversarial masks (ADIOS), as a small tested package behind a Jupyter Book."""
__version__ = "0.1.0"
