"""The multi-modal attention decoder (paper Eq. 3-7) and its ablation variants (Table 2).

The three memories are first "transformed into the same latent space" (paper, Sec. 2.2), each
by its own learned linear map: X (L x C1) -> X^ (L x C), the keyword embeddings W (K x C2) ->
W^ (K x C) and the embeddings of the previously generated words P ((t-1) x C2) -> P^
((t-1) x C). At step t, with h_{t-1} the LSTM's previous hidden state and w_{t-1} the previous
token:

    o_x = Psi_x(X^, h_{t-1})      acoustic attention over X^                        (Eq. 3-5)
    o_w = Psi_s(W^, h_{t-1})      semantic attention over the K projected keywords  (Eq. 3-5)
    o_p = Psi_s(P^, h_{t-1})      the same module over the projected w_1 .. w_{t-1};
                                  P^ is empty at t = 1, where o_p = 0                (Eq. 3-5)
    Eq. 6  h_t, c_t = LSTM(o_x + o_w + o_p + Emb(w_{t-1}), (h_{t-1}, c_{t-1}))
           h_0 = time mean of X^ over valid frames, c_0 = 0
    Eq. 7  v_t = softmax(Linear(Dropout(h_t)))   (we return the logits)

Keywords are the encoder's K most probable keywords, embedded with the decoder's word embedding
(keyword index -> vocabulary id through ``keyword_ids``). Word dropout (0.5) applies to the
LSTM input and to the previous-word memory (one draw for both). With ``detach_keywords`` (the
authors' code; the paper is silent) W is the embedding's value, detached from its gradient and
without word dropout; otherwise W is dropped out and trains the embedding like any other word.

Variants (``variant``): ``base`` (o_x only), ``prev_words`` (+ o_p), ``keywords`` (+ o_w),
``both_unshared`` (+ o_w + o_p with two semantic modules), ``maac`` (+ o_w + o_p, one shared).
The projections W -> W^ and P -> P^ belong to their memories, not to Psi: a variant has the one
of each memory it uses, and ``both_unshared`` has the same two as ``maac``, so the two differ
only in the semantic module, which is what the ablation varies.

The step API, used by every decoding algorithm: ``init(encoder_out) -> DecoderState``, then
``step(state, tokens) -> (logits, state)``, first with the BOS token. A state is batched over
hypotheses and reorderable with ``state.index_select(idx)`` (beam search), each hypothesis
keeping its own previous-word memory. ``forward(encoder_out, tokens)`` is the teacher-forced
equivalent over a whole token sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from torch import Tensor

from maac.errors import MaacError
from maac.models.attention import Attention
from maac.models.keyword_encoder import EncoderOutput
from maac.models.variants import SPECS, VARIANTS


def _pick(t: Tensor | None, index: Tensor) -> Tensor | None:
    return None if t is None else t.index_select(0, index)


@dataclass
class DecoderState:
    """The decoder's state after ``steps`` steps, batched over B hypotheses."""

    h: Tensor  # (B, H) h_{t-1}
    c: Tensor  # (B, H) c_{t-1}
    acoustic: Tensor  # (B, L, C) X^
    acoustic_keys: Tensor  # (B, L, A) X^ W_i
    acoustic_mask: Tensor  # (B, L) bool, True on valid frames
    keywords: Tensor | None  # (B, K, C) W^, None when the variant has no keywords
    keyword_keys: Tensor | None  # (B, K, A)
    words: Tensor | None  # (B, M, C) P^, M = max(steps - 1, 0); None without previous words
    word_keys: Tensor | None  # (B, M, A)
    steps: int = 0

    def index_select(self, index: Tensor) -> DecoderState:
        """The state of hypotheses ``index`` (B',): every tensor's rows ``index``."""
        return self.follow(index, index)

    def follow(self, parents: Tensor, clip_rows: Tensor | None) -> DecoderState:
        """Beam search's reordering: row i continues row ``parents[i]`` of the same clip.

        The encoder-derived tensors (X^, W^, their keys, the mask) are equal on every row of a
        clip, so they are copied only when the rows per clip change: ``clip_rows[i]`` is then
        any row of row i's clip (None: they stay as they are).
        """
        def enc(t: Tensor | None) -> Tensor | None:
            return t if clip_rows is None else _pick(t, clip_rows)

        return DecoderState(
            self.h.index_select(0, parents),
            self.c.index_select(0, parents),
            enc(self.acoustic),  # type: ignore[arg-type]
            enc(self.acoustic_keys),  # type: ignore[arg-type]
            enc(self.acoustic_mask),  # type: ignore[arg-type]
            enc(self.keywords),
            enc(self.keyword_keys),
            _pick(self.words, parents),
            _pick(self.word_keys, parents),
            self.steps,
        )


class Decoder(nn.Module):
    """LSTM decoder with acoustic and semantic attention (Eq. 3-7)."""

    def __init__(
        self,
        vocab_size: int,
        keyword_ids: Tensor,
        sequence_dim: int,
        acoustic_dim: int = 512,
        embed_dim: int = 512,
        hidden_dim: int = 512,
        attention_dim: int = 512,
        top_keywords: int = 5,
        word_dropout: float = 0.5,
        classifier_dropout: float = 0.25,
        variant: str = "maac",
        detach_keywords: bool = True,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise MaacError(f"unknown captioner variant {variant!r}; one of {', '.join(VARIANTS)}")
        if not acoustic_dim == embed_dim == hidden_dim:
            raise MaacError(
                f"encoder.acoustic_dim ({acoustic_dim}), captioner.embed_dim ({embed_dim}) and "
                f"captioner.hidden_dim ({hidden_dim}) must be equal: the LSTM input is a sum "
                "(Eq. 6) and h0 is the mean of X^ (the paper uses 512 for all three)"
            )
        keyword_ids = torch.as_tensor(keyword_ids, dtype=torch.long)
        if keyword_ids.dim() != 1 or not 0 < top_keywords <= len(keyword_ids):
            raise MaacError(
                f"need a 1-D keyword -> vocabulary id mapping with at least captioner.top_keywords "
                f"({top_keywords}) keywords; got shape {tuple(keyword_ids.shape)}"
            )
        if keyword_ids.device.type != "meta" and (
            int(keyword_ids.min()) < 0 or int(keyword_ids.max()) >= vocab_size
        ):
            raise MaacError(f"keyword vocabulary ids must lie in [0, {vocab_size})")
        self.variant = variant
        self.spec = SPECS[variant]
        self.vocab_size = vocab_size
        self.top_keywords = top_keywords
        self.uses_keywords = self.spec.keywords
        self.uses_words = self.spec.words
        self.detach_keywords = detach_keywords
        self.register_buffer("keyword_ids", keyword_ids)

        latent = acoustic_dim  # C: the space X^, W^ and P^ share (Sec. 2.2)
        self.acoustic_proj = nn.Linear(sequence_dim, latent)  # X -> X^
        if self.uses_keywords:
            self.keyword_proj = nn.Linear(embed_dim, latent)  # W -> W^
        if self.uses_words:
            self.word_proj = nn.Linear(embed_dim, latent)  # P -> P^
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.acoustic_attention = Attention(latent, hidden_dim, attention_dim)
        if self.spec.separate_modules:
            self.keyword_attention = Attention(latent, hidden_dim, attention_dim)
            self.word_attention = Attention(latent, hidden_dim, attention_dim)
        elif self.spec.semantic:
            self.semantic_attention = Attention(latent, hidden_dim, attention_dim)
        self.lstm = nn.LSTMCell(embed_dim, hidden_dim)
        self.word_dropout = nn.Dropout(word_dropout)
        self.classifier_dropout = nn.Dropout(classifier_dropout)
        self.classifier = nn.Linear(hidden_dim, vocab_size)

    def _keyword_attention(self) -> Attention:
        """Psi_s for the keywords: its own module only in a variant that does not share."""
        if self.spec.separate_modules:
            return self.keyword_attention
        return self.semantic_attention

    def _word_attention(self) -> Attention:
        """Psi_s for the previous words: its own module only in a variant that does not share."""
        if self.spec.separate_modules:
            return self.word_attention
        return self.semantic_attention

    def init(self, encoder_out: EncoderOutput) -> DecoderState:
        """The state before the first step: X^ and W^, h_0 = masked time mean of X^, c_0 = 0."""
        acoustic = self.acoustic_proj(encoder_out.sequence)  # X^
        mask = encoder_out.mask
        valid = mask[:, :, None].to(acoustic.dtype)
        h = (acoustic * valid).sum(dim=1) / valid.sum(dim=1)
        keywords = keyword_keys = words = word_keys = None
        if self.uses_keywords:
            top = encoder_out.probs.topk(self.top_keywords, dim=1).indices  # (B, K)
            w = self.embedding(self.keyword_ids[top])  # W
            w = w.detach() if self.detach_keywords else self.word_dropout(w)
            keywords = self.keyword_proj(w)  # W^
            keyword_keys = self._keyword_attention().keys(keywords)
        if self.uses_words:
            words = acoustic.new_zeros(acoustic.shape[0], 0, acoustic.shape[2])  # P^, empty
            word_keys = self._word_attention().keys(words)
        return DecoderState(
            h, torch.zeros_like(h), acoustic, self.acoustic_attention.keys(acoustic), mask,
            keywords, keyword_keys, words, word_keys,
        )

    def _advance(
        self, state: DecoderState, e: Tensor, words: Tensor | None, word_keys: Tensor | None,
        weights: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Eq. 6: one LSTM step on o_x + o_w + o_p + Emb(w_{t-1}) (Eq. 3-5 inside Psi).

        ``weights``, when given, receives each attention's alpha (Eq. 4) by memory name.
        """
        o, alpha = self.acoustic_attention(
            state.acoustic, state.acoustic_keys, state.h, state.acoustic_mask
        )
        x, found = e + o, {"acoustic": alpha}
        if state.keywords is not None:
            o, found["keywords"] = self._keyword_attention()(
                state.keywords, state.keyword_keys, state.h
            )
            x = x + o
        if words is not None and words.shape[1] > 0:  # at t = 1, P^ is empty and o_p = 0
            o, found["words"] = self._word_attention()(words, word_keys, state.h)
            x = x + o
        if weights is not None:
            weights.update(found)
        return self.lstm(x, (state.h, state.c))

    def step(
        self, state: DecoderState, tokens: Tensor, weights: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, DecoderState]:
        """Feed w_{t-1} (B,) (BOS at the first step); return the logits of w_t (B, V) (Eq. 7).

        ``weights``, when given, receives the step's attention weights (for Fig. 2's plots).
        """
        e = self.word_dropout(self.embedding(tokens))
        words, word_keys = state.words, state.word_keys
        if words is not None and state.steps > 0:  # w_{t-1} joins P^ (BOS never does)
            p = self.word_proj(e)  # its row of P^
            words = torch.cat([words, p[:, None]], dim=1)
            word_keys = torch.cat([word_keys, self._word_attention().keys(p)[:, None]], dim=1)
        h, c = self._advance(state, e, words, word_keys, weights)
        logits = self.classifier(self.classifier_dropout(h))
        return logits, replace(state, h=h, c=c, words=words, word_keys=word_keys,
                               steps=state.steps + 1)

    def forward(self, encoder_out: EncoderOutput, tokens: Tensor) -> Tensor:
        """Teacher forcing: tokens (B, T) = BOS w_1 .. w_{T-1} -> logits (B, T, V) of w_1 .. w_T."""
        state = self.init(encoder_out)
        emb = self.word_dropout(self.embedding(tokens))  # (B, T, E)
        memory = keys = None
        if self.uses_words:
            memory = self.word_proj(emb)  # each token's row of P^ (B, T, C)
            keys = self._word_attention().keys(memory)
        hidden = []
        for t in range(tokens.shape[1]):
            words = word_keys = None
            if memory is not None and keys is not None:  # P^ at step t+1: tokens 1 .. t
                words, word_keys = memory[:, 1 : t + 1], keys[:, 1 : t + 1]
            h, c = self._advance(state, emb[:, t], words, word_keys)
            state = replace(state, h=h, c=c)
            hidden.append(h)
        return self.classifier(self.classifier_dropout(torch.stack(hidden, dim=1)))
