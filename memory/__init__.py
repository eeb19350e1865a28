"""Character memory with emotion-aware retrieval (Emotional RAG) on faiss.

- ``CharacterMemory`` (``memory.character``): add, list, recall, rebuild; implements the
  graph's ``MemoryRecall`` and ``memory_writer`` (``exchange_memories``).
- ``load_card`` / ``install_card`` (``memory.cards``): characters from YAML/JSON cards;
  ``CARDS_DIR`` holds the examples.
- ``memory.emotion``: the Plutchik-8 emotion space; ``memory.retrieval``: the three strategies;
  ``memory.index``: the faiss index and its files.

>>> from memory import CharacterMemory, load_card, CARDS_DIR
>>> sorted(p.name for p in CARDS_DIR.iterdir())
['mira.yaml', 'sol.json', 'theo.yaml']
"""

from memory.cards import CARDS_DIR, CardError, install_card, load_card
from memory.character import CharacterMemory
from memory.emotion import PLUTCHIK8, emotion_vector, label_point
from memory.index import IndexCorrupt, MemoryIndex
from memory.retrieval import STRATEGIES

__all__ = ["CharacterMemory", "load_card", "install_card", "CardError", "CARDS_DIR", "PLUTCHIK8",
           "emotion_vector", "label_point", "MemoryIndex", "IndexCorrupt", "STRATEGIES"]
