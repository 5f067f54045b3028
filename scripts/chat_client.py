"""Ask a running `news-assistant serve` questions through the openai client, streamed, as any
OpenAI-compatible chat client would; each answer is printed as its chunks arrive, then what the
last chunk's extra fields say (answered, the citations' articles and character spans).

    .venv/bin/python scripts/chat_client.py [--url http://127.0.0.1:8080] [--key KEY] QUESTION...

Each question follows the ones before it in one conversation (follow-ups read them).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions", nargs="+", metavar="QUESTION")
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", default=os.environ.get("NEWS_ASSISTANT_SERVER__API_KEY", "none"))
    args = parser.parse_args()
    http = openai.DefaultHttpxClient(trust_env=False)  # 127.0.0.1: never through a proxy
    client = openai.OpenAI(base_url=f"{args.url}/v1", api_key=args.key, http_client=http)
    model = client.models.list().data[0].id
    messages: list[ChatCompletionMessageParam] = []
    for question in args.questions:
        messages.append({"role": "user", "content": question})
        print(f">>> {question}", flush=True)
        stream = client.chat.completions.create(model=model, messages=messages, stream=True)
        said, chunks, extra = "", 0, dict[str, Any]()
        for chunk in stream:
            chunks += 1
            piece = (chunk.choices[0].delta.content or "") if chunk.choices else ""
            print(piece, end="", flush=True)
            said += piece
            extra = chunk.model_extra or extra
        messages.append({"role": "assistant", "content": said})
        cited = [
            f"[{c['number']}] {c['article_id']} {c['start']}-{c['end']}"
            for c in extra.get("citations", [])
        ]
        print(f"\n--- {chunks} chunks; model {model}; answered {extra.get('answered')}; "
              f"citations {', '.join(cited) or 'none'}\n", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
