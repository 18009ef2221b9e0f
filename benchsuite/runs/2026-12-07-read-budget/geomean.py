import json,sys,statistics as st,math
from collections import defaultdict
f=sys.argv[1]; subj=sys.argv[2]; ref=sys.argv[3]
d=defaultdict(dict)
for l in open(f):
    r=json.loads(l)
    if 'point' not in r: continue
    p=r['point']
    if p.get('repeat') is None or p['params'].get('rate_pct') is not None: continue
    pa=p['params']; k=(pa['conns'],pa['size'],pa['pipeline'])
    d[k][(p['subject'],pa.get('arm'),p['repeat'])]=p['metrics']
for arm in 'AB':
    rs=[]
    for k in d:
        m=d[k]; v=[]
        for (s,a,r),x in m.items():
            if s==subj and a==arm and (ref,arm,r) in m:
                v.append(x['server_cpu_us_per_msg']/m[(ref,arm,r)]['server_cpu_us_per_msg'])
        if v: rs.append(st.median(v))
    print(subj,'/',ref,'arm',arm,'geomean %.3f'%math.exp(sum(map(math.log,rs))/len(rs)),'max %.2f'%max(rs),'n',len(rs), 'above1.0:',sum(1 for x in rs if x>1.0))
v=[]
for k in d:
    m=d[k]; b=[]
    for (s,a,r),x in m.items():
        if s==subj and a=='B' and (subj,'A',r) in m:
            b.append(x['server_cpu_us_per_msg']/m[(subj,'A',r)]['server_cpu_us_per_msg'])
    if b: v.append(st.median(b))
print(subj,'B/A geomean %.3f'%math.exp(sum(map(math.log,v))/len(v)))
