"""A text folder with two classes of distinct words, and the text classifier a user builds
for it: Input(dtype=string) -> TextVectorization -> Embedding -> GlobalAveragePooling1D ->
Dense(sigmoid), bound to the folder (shared by the core, CLI and window tests)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.schema.settings import DataSource, TrainingSettings

# Words of each class, and words both share (so a file is not told apart by any one word).
CLASS_WORDS = {
    "neg": ["awful", "boring", "dull", "terrible", "waste", "bad", "poor", "worst"],
    "pos": ["great", "superb", "lovely", "brilliant", "fun", "good", "best", "wonderful"],
}
SHARED = ["the", "movie", "film", "was", "a", "plot", "actors", "and", "it", "story"]
MAX_TOKENS = 64


def write_texts(root: Path, per_class: int, seed: int) -> Path:
    """``root/neg/*.txt`` and ``root/pos/*.txt``: short files of shared words with two or
    three words of their class each."""
    rng = random.Random(seed)
    for label, words in CLASS_WORDS.items():
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            text = rng.sample(SHARED, 5) + rng.sample(words, rng.randint(2, 3))
            rng.shuffle(text)
            (folder / f"{seed}_{i}.txt").write_text(" ".join(text).capitalize() + ".\n")
    return root


def held_out(root: Path, per_class: int = 40) -> tuple[list[str], list[int]]:
    """Files of another seed (never trained on): their texts and labels (pos = 1)."""
    folder = write_texts(root, per_class, seed=999)
    texts, labels = [], []
    for label, value in (("neg", 0), ("pos", 1)):
        for path in sorted((folder / label).glob("*.txt")):
            texts.append(path.read_text())
            labels.append(value)
    return texts, labels


def text_classifier(folder: Path | None = None, epochs: int = 8) -> Document:
    """The classifier as a user builds it, bound to ``folder`` when given."""
    doc = Document(get_catalog())
    stack = UndoStack(doc)
    text = stack.push(edits.add_input(doc, [], name="text", dtype="string"))
    chain = [text.node.id]
    for class_name, params in (
            ("TextVectorization", {"max_tokens": MAX_TOKENS}),
            ("Embedding", {"input_dim": MAX_TOKENS, "output_dim": 8}),
            ("GlobalAveragePooling1D", {}),
            ("Dense", {"units": 1, "activation": "sigmoid"})):
        chain.append(stack.push(edits.add_layer(doc, class_name, params)).node.id)
    out = stack.push(edits.add_output(doc, name="label", loss="binary_crossentropy",
                                      metrics=["accuracy"]))
    chain.append(out.node.id)
    for src, dst in itertools.pairwise(chain):
        stack.push(edits.connect(doc, src, dst))
    doc.compile.learning_rate = 0.05
    doc.training = TrainingSettings(batch_size=16, epochs=epochs, validation_split=0.2, seed=1)
    if folder is not None:
        doc.training.data = {"text": DataSource("text_dir", {"path": str(folder)})}
    return doc
