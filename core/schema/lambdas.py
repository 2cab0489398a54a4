"""The text of a Lambda layer's function, checked with ``ast`` only (nothing is run here).

The catalog checks a Lambda's expression with it, the code generator writes it into a
module, and the Keras bridge evaluates it.
"""

from __future__ import annotations

import ast

LAMBDA_ARGUMENT = "x"


def lambda_source(expression: str) -> str:
    """``lambda x: <expression>`` in canonical form (one line, no comments).

    The text must parse as one Python expression, so nothing in it can end the lambda and
    start another statement or argument when the code generator writes it into a module.
    Raises ValueError saying what was expected.
    """
    expected = f"a single Python expression in {LAMBDA_ARGUMENT} (e.g. {LAMBDA_ARGUMENT} * 2)"
    try:
        body = ast.parse(expression, mode="eval").body
        text = ast.unparse(body)
        source = f"lambda {LAMBDA_ARGUMENT}: {text}"
        parsed = ast.parse(source, mode="eval").body
        if not isinstance(parsed, ast.Lambda) or ast.dump(parsed.body) != ast.dump(body):
            source = f"lambda {LAMBDA_ARGUMENT}: ({text})"
        compile(source, "<lambda expression>", "eval")
    except SyntaxError as exc:
        raise ValueError(f"{expected}; {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"{expected}, nested less deeply") from None
    except ValueError as exc:  # e.g. a null character
        raise ValueError(f"{expected}; {exc}") from None
    return source
