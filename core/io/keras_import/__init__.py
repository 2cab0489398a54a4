"""Keras models (files or objects) -> LayerForge documents.

The importer reads the serialized functional config (``config.json`` of a ``.keras`` file,
the ``model_config`` of an ``.h5`` file, a model JSON, or ``serialize_keras_object`` of a
model in memory) without deserializing it, so a file is checked (Lambda bytecode, custom
classes) before any of its code could run. Import from the module that does the job:

- ``files``: reading ``.keras``/``.h5``/``.json`` files (``import_file``,
  ``read_model_config``), with their weights when asked;
- ``graph``: converting a serialized model into a document (``import_config``,
  ``import_model``, ``ImportResult``): layers, calls, edges, blocks, layout;
- ``params``: converting a layer's config into the catalog's parameters (only the
  values that differ from Keras' defaults) and a call's keyword arguments;
- ``checks``: what an imported model must pass (no Python code anywhere in its config, names
  a project accepts, records that read back);
- ``ops``: reading the serialized calls (tensor references, inbound nodes) and mapping
  raw ``keras.ops`` calls to public layers.
"""
