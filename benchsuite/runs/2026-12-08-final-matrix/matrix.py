# Per point: each server's CPU per message over tokio's (and uring's over monoio's), per rotated
# repeat; the median and how many repeats were above 1.0. Usage: matrix.py results.jsonl
import json, sys, statistics as st, math
from collections import defaultdict
d = defaultdict(dict)
for l in open(sys.argv[1]):
    r = json.loads(l)
    if 'point' not in r: continue
    p = r['point']; pa = p['params']
    if pa.get('rate_pct'): continue
    k = (pa['conns'], pa['size'], pa['pipeline'])
    d[k][(p['subject'], p.get('repeat'))] = p['metrics'].get('server_cpu_us_per_msg')
pairs = [('uring', 'tokio'), ('epoll', 'tokio'), ('uring', 'monoio')]
print(f"{'point':20}" + ''.join(f"{a+'/'+b:>22}" for a, b in pairs))
logs = defaultdict(list)
for k in sorted(d):
    m = d[k]; reps = sorted({r for (_, r) in m if r is not None})
    cells = []
    for a, b in pairs:
        rs = [m[(a, r)] / m[(b, r)] for r in reps if m.get((a, r)) and m.get((b, r))]
        if not rs: cells.append(f"{'-':>22}"); continue
        md = st.median(rs); logs[(a, b)].append(math.log(md))
        above = sum(x > 1.0 for x in rs)
        cells.append(f"{md:.2f} {above}/{len(rs)} {min(rs):.2f}-{max(rs):.2f}".rjust(22))
    print(f"{k[0]:>5} x {k[1]:>5} B x p{k[2]:<3}" + ''.join(cells))
print("geomean of medians: " + ', '.join(f"{a}/{b} {math.exp(st.mean(v)):.3f}" for (a, b), v in logs.items()))
