"""Helpers both the app's training and the exported module run: one implementation each.

*Portable* functions use only numpy and Keras: the exported module contains their
exact source (its own imports replace the ones here), so exported training shapes,
checks, splits and feeds data the same way the app does.
"""

from __future__ import annotations

import numpy as np


def synthetic_array(rng, samples, shape, dtype, kind, high):  # type: ignore[no-untyped-def]
    """Random data for one input or output.

    kind: ids (integers below ``high``), floats, sparse (class ids), onehot, binary.
    """
    shape = tuple(shape)
    if kind == "ids":
        return rng.integers(0, high, size=(samples, *shape)).astype(dtype)
    if kind == "sparse":
        return rng.integers(0, high, size=(samples, *shape[:-1])).astype("int32")
    if kind == "onehot":
        return np.eye(high, dtype=dtype)[rng.integers(0, high, size=(samples, *shape[:-1]))]
    if kind == "binary":
        return rng.integers(0, 2, size=(samples, *shape)).astype(dtype)
    return rng.random(size=(samples, *shape)).astype(dtype)


def synthetic_texts(rng, samples, shape, model, layer, most):  # type: ignore[no-untyped-def]
    """Random texts for a string input: each value 1 to ``most`` words drawn from the
    vocabulary of the layer ``layer`` that the input feeds (made-up words when it has none)."""
    words = vocabulary_words(model, layer)
    size = (samples, *tuple(shape))
    counts = rng.integers(1, most + 1, size=size).reshape(-1)
    texts = [" ".join(rng.choice(words, int(n))) for n in counts]
    return np.array(texts, dtype=str).reshape(size)


def vocabulary_words(model, layer):  # type: ignore[no-untyped-def]
    """The tokens of the vocabulary layer ``layer`` (None: no such layer), else made-up words."""
    words = [] if layer is None else \
        model.get_layer(layer).get_vocabulary(include_special_tokens=False)
    words = [w.decode("utf-8") if isinstance(w, bytes) else str(w) for w in words]
    return words or ["lorem", "ipsum", "dolor", "sit", "amet", "elit", "sed", "magna",
                     "nisi", "velit", "culpa", "minim", "anim", "irure", "enim", "quis"]


def string_tensors(arrays):  # type: ignore[no-untyped-def]
    """The arrays with strings made tensors: Keras' fit takes no numpy arrays of strings."""
    import keras  # lazy: Keras loads only when data is

    return {name: keras.ops.convert_to_tensor(a) if a.dtype.kind in "US" else a
            for name, a in arrays.items()}


def input_shapes(model, lengths=(100, 500, 2000)):  # type: ignore[no-untyped-def]
    """Per-sample shape of each model input by name; open (None) dimensions get the first
    of ``lengths`` that the whole model accepts."""
    specs = [(t.name, tuple(t.shape[1:]), t.dtype) for t in model.inputs]
    if all(None not in shape for _, shape, _ in specs):
        return {name: shape for name, shape, _ in specs}
    for length in lengths:
        shapes = {n: tuple(length if d is None else d for d in s) for n, s, _ in specs}
        batch = [np.zeros((1, *shapes[n]), dtype) for n, _, dtype in specs]
        try:
            model(batch[0] if len(batch) == 1 else batch, training=False)
        except Exception:  # Keras raises many kinds for a too-short input
            continue
        return shapes
    names = ", ".join(f"input '{n}'" for n, s, _ in specs if None in s)
    raise ValueError(f"{names}: the graph leaves the length open and the model accepts none "
                     f"of the lengths {list(lengths)}; set 'length' in the synthetic source")


def output_shapes(model, x):  # type: ignore[no-untyped-def]
    """Per-sample shape of each model output by name, run on one sample of ``x`` (a dict of
    input arrays) when the graph leaves a dimension open."""
    shapes = [tuple(t.shape[1:]) for t in model.outputs]
    if any(None in shape for shape in shapes):
        first = [x[t.name][:1] for t in model.inputs]
        out = model(first[0] if len(first) == 1 else first, training=False)
        out = out if isinstance(out, list | tuple) else [out]
        shapes = [tuple(o.shape[1:]) for o in out]
    return dict(zip(model.output_names, shapes, strict=True))


def split_validation(x, y, fraction, shuffle=False, seed=None):  # type: ignore[no-untyped-def]
    """(x, y, val_x, val_y): the last ``fraction`` of the samples held out, after a shuffle
    seeded by ``seed`` when ``shuffle`` (data sorted by class would otherwise leave one
    class for validation); no validation when that leaves no sample on a side."""
    count = len(next(iter(x.values())))
    cut = validation_cut(count, fraction)
    if cut is None:
        return x, y, {}, {}
    if shuffle:
        order = np.random.default_rng(seed).permutation(count)
        x, y = {k: v[order] for k, v in x.items()}, {k: v[order] for k, v in y.items()}
    return ({k: v[:cut] for k, v in x.items()}, {k: v[:cut] for k, v in y.items()},
            {k: v[cut:] for k, v in x.items()}, {k: v[cut:] for k, v in y.items()})


def validation_cut(count, fraction):  # type: ignore[no-untyped-def]
    """The index of the first held-out sample, or None when a side would be empty."""
    cut = int(count * (1 - fraction))
    return None if cut < 1 or cut == count else cut


def feed(arrays, names, how):  # type: ignore[no-untyped-def]
    """What ``fit`` gets: a dict of names (``how`` 'dict') or a list in graph order; a
    model's only input or output is passed as the bare array (Keras reads a one-key dict
    for a single tensor as a structure)."""
    if how == "dict" and len(names) > 1:
        return {name: arrays[name] for name in names}
    return arrays[names[0]] if len(names) == 1 else [arrays[n] for n in names]


def conform(array, shape, dtype, name, loss=None, vocab=None, scale=None):  # type: ignore[no-untyped-def]
    """Fit loaded data to a model input or output of per-sample ``shape``.

    Pads word-id sequences, adds a trailing channel axis, one-hot encodes class ids for
    categorical losses and casts; anything else that does not fit raises ValueError.
    """
    import keras  # lazy: Keras loads only when data is

    text = "string" in str(dtype)
    if text and np.asarray(array).dtype.kind not in "USO":
        raise ValueError(f"{name}: expected strings (dtype string); received {array.dtype}")
    if array.dtype == object and not text:  # lists of word ids (imdb, reuters)
        array = keras.utils.pad_sequences(list(array), maxlen=shape[0] if shape else None)
    if scale is not None:
        array = array * scale
    key = (loss or "").lower().replace("_", "")
    if key == "sparsecategoricalcrossentropy":  # class ids: one value per sample
        shape, dtype = tuple(shape[:-1]), "int32"
        if array.ndim == 2 and array.shape[1] == 1 and not shape:
            array = array.reshape(-1)
    if key == "categoricalcrossentropy" and shape and array.ndim in (1, 2) \
            and array.shape[1:] in ((), (1,)) and shape[-1] not in (None, 1):
        array = keras.utils.to_categorical(array.reshape(-1), shape[-1])
    got = tuple(array.shape[1:])
    if len(got) + 1 == len(shape) and shape[-1] == 1:  # grayscale images, scalar targets
        array, got = array[..., None], (*got, 1)
    if len(got) != len(shape) or any(w is not None and w != g
                                     for w, g in zip(shape, got, strict=True)):
        raise ValueError(f"{name}: expected samples of shape {tuple(shape)}; received "
                         f"{got} ({len(array)} samples of shape {got})")
    if "int" in str(dtype) and np.issubdtype(array.dtype, np.floating) \
            and not np.all(np.mod(array, 1) == 0):
        raise ValueError(f"{name}: expected whole numbers ({dtype}); received fractions "
                         f"({array.dtype})")
    if vocab is not None and array.size and array.max() >= vocab:
        raise ValueError(f"{name}: expected word ids below {vocab} (the Embedding's "
                         f"input_dim); received ids up to {int(array.max())}")
    return array.astype(str if text else dtype)
