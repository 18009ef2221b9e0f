#!/bin/bash
# usage: instr.sh MODEL OUTFILE [binary]
bin=${3:-./iomux}
model=$1; out=$2
taskset -c 0 valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=$out $bin serve --model $model --addr 127.0.0.1:0 > /tmp/cg/srv.log 2>&1 &
pid=$!
for i in $(seq 100); do grep -q "listening on" /tmp/cg/srv.log && break; sleep 0.1; done
addr=$(grep -o "listening on [0-9.:]*" /tmp/cg/srv.log | awk '{print $3}')
taskset -c 1 $bin load --addr $addr --conns 100 --size 64 --pipeline 1 --duration 2 --warmup 0.2 --json | python3 -c "import json,sys; d=json.load(sys.stdin); print('msgs', d.get('messages', d))" 
kill -TERM $pid; wait $pid
