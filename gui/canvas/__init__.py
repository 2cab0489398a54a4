"""The node-editor canvas: a QGraphicsScene bound to one graph of the session's document."""
