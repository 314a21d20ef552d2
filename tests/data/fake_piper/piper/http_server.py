"""A stand-in for Piper's HTTP server in tests (same routes and replies, no neural voice):
it "speaks" the phonemes speechzoo's front end gives (with Piper's glides), 3 frames of 256
samples of a tone each, with Piper's sentence start/end markers, 22,050 Hz int16 WAV."""

import argparse
import io
import json
import wave
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np

from speechzoo.text.phonemes import phonemize

RATE, HOP = 22050, 256
last: dict = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # Piper's server logs every request, to stderr
        super().log_message(*args)

    def _reply(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(json.dumps({"voice": {"name": "fake"}, "last": last or None}).encode(),
                    "application/json")

    def do_POST(self) -> None:
        text = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"]
        phonemes = ["^"] + phonemize(text, glides=True) + ["$"]
        frames = [3] * len(phonemes)
        n = sum(frames) * HOP + 100  # Piper's audio may run a little past its alignment
        audio = (np.sin(np.arange(n) * 0.05) * 8000).astype(np.int16)
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(audio.tobytes())
        last.clear()
        spans = [{"phoneme": p, "seconds": f * HOP / RATE}
                 for p, f in zip(phonemes, frames, strict=True)]
        last.update(text=text, phonemes=phonemes[1:-1], alignments=spans)
        self._reply(buffer.getvalue(), "audio/wav")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    args = p.parse_args()
    HTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
