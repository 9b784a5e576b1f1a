"""Datasets of sampled sequences with their beliefs, streamed to ``.npz`` files in bounded memory.

File format (``numpy.load`` reads it): ``tokens`` ``(N, L)`` int32, ``beliefs`` ``(N, L, S)``
float32 (the belief **after** each token), and ``metadata``, a JSON string with the process, its
parameters and transition matrices, the seed, the chunk layout and the package version.

For a GHMM the beliefs are its signed beliefs on the plane ``eta r = 1`` (``r`` is in
``metadata["hmm"]["right_eigenvector"]``). With ``DatasetConfig(factors=True)`` a mixture
or product (built by :mod:`compmech.compose`) also stores its factored beliefs, aligned like
``beliefs`` and float32, and lists their names in ``metadata["factor_arrays"]``:

* mixture of ``K`` components: ``component_posterior`` ``(N, L, K)``,
  ``P(component k | x_1..x_t)``, and ``component_beliefs_<k>`` ``(N, L, S_k)``, component ``k``'s
  belief (NaN where its posterior is 0);
* product of ``F`` factors: ``factor_beliefs_<f>`` ``(N, L, S_f)``, factor ``f``'s belief.

With a ``DatasetConfig.framing`` the file also has ``framed_tokens`` ``(N, total_len)`` int32, each row laid
out as in the Generative Processes Specification (§6.2): ``[BOS, x_1 .. x_L, EOS, PAD, ...]``
(framing tokens outside the process vocabulary; any of them may be left out), described in
``metadata["framing"]``.

The arrays that every file has keep their format.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from compmech._version import __version__
from compmech.compose import factor_array_names, factor_arrays
from compmech.files import atomic_output
from compmech.hmm import Process
from compmech.inference import sample
from compmech.records import Record
from compmech.resources import require_disk
from compmech.spec import generation_layout
from compmech.stateful import is_stateful

#: Tokens per generated chunk; memory stays bounded by a few chunks whatever N and L are.
CHUNK_TOKENS = 1 << 20


class Dataset(NamedTuple):
    """A loaded dataset file.

    Attributes:
        tokens: ``(N, L)`` int32.
        beliefs: ``(N, L, S)`` float32, the belief after each token (``None`` when not loaded).
        metadata: the decoded ``metadata`` JSON.
    """

    tokens: np.ndarray
    beliefs: np.ndarray | None
    metadata: dict[str, Any]


class _Chunk(NamedTuple):
    first_sequence: int
    num_sequences: int
    first_step: int
    num_steps: int


def _chunks(num_sequences: int, seq_len: int) -> Iterator[_Chunk]:
    """Blocks of whole sequences, or, for sequences longer than a chunk, blocks of time steps of
    one sequence; either way each chunk is contiguous in the row-major ``(N, L)`` file."""
    if seq_len <= CHUNK_TOKENS:
        per_chunk = max(1, CHUNK_TOKENS // seq_len)
        for start in range(0, num_sequences, per_chunk):
            yield _Chunk(start, min(per_chunk, num_sequences - start), 0, seq_len)
    else:
        for n in range(num_sequences):
            for t in range(0, seq_len, CHUNK_TOKENS):
                yield _Chunk(n, 1, t, min(CHUNK_TOKENS, seq_len - t))


def iterate_samples(hmm: Process, num_sequences: int, seq_len: int, seed: int):
    """Yield ``(chunk, tokens, beliefs)`` covering ``num_sequences`` sequences of ``seq_len``.

    Chunk ``k`` is sampled with the key ``fold_in(key(seed), k)``; a long sequence split over
    several chunks carries its belief from one chunk to the next, so it is one exact sample path.
    The output depends only on the arguments (the chunk size is a module constant).
    """
    key = jax.random.key(int(seed))
    belief = None
    for index, chunk in enumerate(_chunks(num_sequences, seq_len)):
        init = belief if chunk.first_step > 0 else None
        out = sample(hmm, chunk.num_sequences, chunk.num_steps, jax.random.fold_in(key, index), init)
        belief = out.beliefs[0, -1]
        yield chunk, out.tokens, out.beliefs


@dataclass(frozen=True)
class Framing(Record):
    """How ``framed_tokens`` lay out a word (spec v1.0 §6.2): the BOS, EOS and PAD ids (``None``:
    not used) and the framed length (the dataset metadata's ``framing``)."""

    bos: int | None = None
    eos: int | None = None
    pad: int | None = None
    total_len: int | None = None
    layout: str = "[BOS, x_1 .. x_L, EOS, PAD, ..., PAD] (spec v1.0 §6.2)"


@dataclass(frozen=True, kw_only=True)
class DatasetConfig(Record):
    """What :func:`generate_dataset` samples (recorded in the file's ``metadata``).

    Attributes:
        num_sequences: ``N``, the number of sequences.
        seq_len: ``L``, tokens per sequence.
        seed: integer seed (same seed, same bytes).
        factors: also store the factored beliefs of a mixture or product (see the module
            docstring); tokens and beliefs are the same bytes as without.
        framing: also store ``framed_tokens`` laid out by this :class:`Framing` (see the module
            docstring); its ``total_len`` defaults to ``L`` plus the BOS/EOS used.

    Raises:
        ValueError: a size or seed that is not an integer ``>= 1`` (any integer for the seed), or
            a framing that does not fit (named in the message).
    """

    num_sequences: int
    seq_len: int
    seed: int
    factors: bool = False
    framing: Framing | None = None

    def __post_init__(self) -> None:
        for what, value in (("num_sequences", self.num_sequences), ("seq_len", self.seq_len)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{what} must be an integer >= 1; got {value}")
        if isinstance(self.seed, bool) or int(self.seed) != self.seed:
            raise ValueError(f"seed must be an integer; got {self.seed!r}")
        if self.framing is not None:
            _framed_length(self.framing, int(self.seq_len))


def _framed_length(framing: Framing, L: int) -> int:
    """``framing.total_len`` checked (default ``L`` plus the BOS/EOS used)."""
    used = (framing.bos is not None) + (framing.eos is not None)
    total = L + used if framing.total_len is None else int(framing.total_len)
    if total < L + used or (total > L + used and framing.pad is None):
        raise ValueError(f"total_len {total} must be >= {L + used} (sequence plus BOS/EOS), and a "
                         "longer one needs a pad token")
    return total


def _checked_framing(framing: Framing | None, hmm: Process, L: int) -> Framing | None:
    """``framing`` checked against the process (tokens outside its vocabulary), with
    ``total_len`` filled in."""
    if framing is None:
        return None
    for k, v in (("bos", framing.bos), ("eos", framing.eos), ("pad", framing.pad)):
        if v is not None and (isinstance(v, bool) or int(v) != v or v < hmm.vocab_size):
            raise ValueError(f"framing {k} token must be an integer outside the process vocabulary "
                             f"(>= {hmm.vocab_size}); got {v!r}")
    if L > CHUNK_TOKENS:
        raise ValueError(f"framing needs sequences of at most {CHUNK_TOKENS} tokens; got {L}")
    return Framing(*(None if v is None else int(v) for v in (framing.bos, framing.eos, framing.pad)),
                   total_len=_framed_length(framing, L))


def generate_dataset(hmm: Process, config: DatasetConfig, out: str | os.PathLike, *,
                     force: bool = False, progress: bool = False) -> Path:
    """Sample a dataset and stream it to ``out`` (an ``.npz``) without holding it in memory.

    The file is written under a temporary name and moved into place at the end, so an existing
    file is never left half-written; it is replaced only with ``force=True``. A request that
    cannot fit on the disk is refused before any work, with the estimate in the message.

    Args:
        hmm: the process (HMM or GHMM).
        config: what to sample (:class:`DatasetConfig`: sizes, seed, factored beliefs, framing).
        out: destination path.
        force: overwrite an existing file.
        progress: show a progress bar on stderr.

    Returns:
        The path written.

    Raises:
        ValueError: a framing token inside the vocabulary, ``factors`` for a process without
            factors, or the file would not fit on the disk.
        FileExistsError: ``out`` exists and ``force`` is False.
        compmech.files.WriteError: the disk filled up (or another OS error) while writing; no
            partial file is left.
    """
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass force=True (--force) to overwrite it")
    if config.factors and hmm.structure is None:
        raise ValueError(f"factors=True needs a mixture or product process; {hmm.name!r} has no "
                         "factors (build it with compmech.mixture or compmech.product)")
    N, L, S = int(config.num_sequences), int(config.seq_len), hmm.num_states
    frame = _checked_framing(config.framing, hmm, L)
    seed = int(config.seed)
    metadata = _metadata(hmm, N, L, seed)
    members = [
        ("tokens", (N, L), np.int32, lambda t, b: t),
        ("beliefs", (N, L, S), np.float32, lambda t, b: b),
    ]
    if frame is not None:
        metadata["framing"] = frame.to_dict()
        members.append(("framed_tokens", (N, frame.total_len), np.int32, lambda t, b: generation_layout(
            t, frame.total_len, frame.bos, frame.eos, frame.pad)))
    if config.factors:
        metadata["factor_arrays"] = factor_array_names(hmm)
        for name, shape in _factor_shapes(hmm, N, L).items():
            members.append((name, shape, np.float32,
                            lambda t, b, name=name: factor_arrays(hmm, b)[name]))
    needed = sum(math.prod(shape) * np.dtype(dtype).itemsize for _, shape, dtype, _ in members)
    require_disk(out, needed + 65_536, f"generating {N * L:,} tokens with beliefs")
    with atomic_output(out) as fh, _progress_bar(len(members) * N * L, progress) as bar, \
            zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        # One pass per array regenerates the same chunks (cheaper than buffering on disk).
        for name, shape, dtype, pick in members:
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                _write_npy_header(member, shape, dtype)
                for chunk, tokens, beliefs in iterate_samples(hmm, N, L, seed):
                    member.write(np.ascontiguousarray(pick(tokens, beliefs), dtype=dtype).tobytes())
                    bar.update(chunk.num_sequences * chunk.num_steps)
        with archive.open("metadata.npy", "w") as member:
            np.lib.format.write_array(member, np.array(json.dumps(metadata)))
    return out


def load_dataset(path: str | os.PathLike, *, beliefs: bool = True, hmm: Process | None = None,
                 min_length: int | None = None) -> Dataset:
    """Read a dataset file written by :func:`generate_dataset` (or ``compmech generate``).

    The one reader of dataset files: training reads only the tokens (``beliefs=False``, so a
    10^8-token file does not load its beliefs), with the checks it needs.

    Args:
        path: the ``.npz`` file.
        beliefs: also load ``beliefs`` (required then); otherwise ``Dataset.beliefs`` is ``None``.
        hmm: when given, every token must lie in its vocabulary.
        min_length: when given, rows must hold at least this many tokens.

    Returns:
        :class:`Dataset` (``metadata`` is ``{}`` for a file without one).

    Raises:
        ValueError: a missing or unreadable file, a missing array, ``tokens`` not a non-empty 2-D
            integer array, rows shorter than ``min_length``, or tokens outside ``hmm``'s vocabulary.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"dataset file not found: {path}")
    needed = {"tokens", "beliefs"} if beliefs else {"tokens"}
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = needed - set(data.files)
            if not missing:
                tokens = data["tokens"]
                belief_array = data["beliefs"] if beliefs else None
                raw_meta = str(data["metadata"]) if "metadata" in data.files else None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # ValueError: not .npz/.npy
        raise ValueError(f"dataset {path} is not a readable .npz file; give one written by "
                         f"`compmech generate` ({type(err).__name__}: {err})") from err
    if missing:
        raise ValueError(f"dataset {path} lacks {sorted(missing)}; is it from compmech generate?")
    _check_tokens(path, tokens, hmm, min_length)
    try:
        metadata = json.loads(raw_meta) if raw_meta is not None else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"dataset {path}: its metadata is not valid JSON ({err.msg})") from err
    return Dataset(tokens.astype(np.int32, copy=False), belief_array, metadata)


def _check_tokens(path: Path, tokens: np.ndarray, hmm: Process | None, min_length: int | None) -> None:
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"dataset {path}: 'tokens' must be a 2-D integer array; got "
                         f"{tokens.dtype} {tokens.shape}")
    if tokens.shape[0] == 0:
        raise ValueError(f"dataset {path} has no rows")
    if min_length is not None and tokens.shape[1] < min_length:
        raise ValueError(f"dataset {path}: rows have {tokens.shape[1]} tokens but {min_length} are "
                         "needed")
    if hmm is not None and (tokens.min() < 0 or tokens.max() >= hmm.vocab_size):
        raise ValueError(f"dataset {path}: tokens outside 0..{hmm.vocab_size - 1}")


def _factor_shapes(hmm: Process, N: int, L: int) -> dict[str, tuple]:
    structure = hmm.structure
    sizes = [(N, L, n) for n in structure.num_states]
    if structure.kind == "mixture":
        sizes = [(N, L, structure.num_factors), *sizes]
    return dict(zip(factor_array_names(hmm), sizes, strict=True))


def _metadata(hmm: Process, N: int, L: int, seed: int) -> dict[str, Any]:
    return {
        "process": hmm.name,
        "kind": hmm.kind,
        "params": dict(hmm.params),
        "hmm": hmm.to_dict(),
        "transition_matrices": None if is_stateful(hmm) else hmm.transition_matrices.tolist(),
        "num_sequences": N,
        "seq_len": L,
        "seed": seed,
        "chunk_tokens": CHUNK_TOKENS,
        "beliefs_alignment": "beliefs[n, t] is the belief after tokens[n, :t + 1]",
        "compmech_version": __version__,
    }


def _write_npy_header(fh, shape: tuple[int, ...], dtype) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": tuple(shape)}
    np.lib.format.write_array_header_2_0(fh, header)


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="tok", unit_scale=True, disable=not enabled, leave=False,
                desc="generate")
