"""Side panels of the main window: summary, generated code, diagnostics, undo history."""
