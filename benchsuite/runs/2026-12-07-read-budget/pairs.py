import json,sys,statistics as st
from collections import defaultdict
f=sys.argv[1]; subj=sys.argv[2] if len(sys.argv)>2 else 'epoll'; ref=sys.argv[3] if len(sys.argv)>3 else 'tokio'
d=defaultdict(dict)
for l in open(f):
    r=json.loads(l)
    if 'point' not in r: continue
    p=r['point']
    if p.get('repeat') is None or p['params'].get('rate_pct') is not None: continue
    pa=p['params']; k=(pa['conns'],pa['size'],pa['pipeline'])
    d[k][(p['subject'],pa.get('arm'),p['repeat'])]=p['metrics']
print("point | %s/%s A | B | %s B/A | jain A | jain B"%(subj,ref,subj))
for k in sorted(d):
    m=d[k]; reps=sorted({r for (_,_,r) in m})
    ra=[];rb=[];ba=[];ja=[];jb=[]
    for r in reps:
        try:
            a=m[(subj,'A',r)];b=m[(subj,'B',r)];ta=m[(ref,'A',r)];tb=m[(ref,'B',r)]
        except KeyError: continue
        c=lambda x:x.get('server_cpu_us_per_msg') or float('nan')
        ra.append(c(a)/c(ta)); rb.append(c(b)/c(tb)); ba.append(c(b)/c(a)); ja.append(a.get('fairness',0)); jb.append(b.get('fairness',0))
    if not ra: continue
    print(k, "%.2f | %.2f | %.2f | %s | %s"%(st.median(ra),st.median(rb),st.median(ba),' '.join('%.2f'%x for x in ja),' '.join('%.2f'%x for x in jb)))
