#!/bin/bash
# $1 binary, $2 label
bin=$1; lab=$2
taskset -c 0 $bin serve --model uring --addr 127.0.0.1:0 > /tmp/p-$lab.out 2>&1 & spid=$!
sleep 0.5; port=$(grep -o '127.0.0.1:[0-9]*' /tmp/p-$lab.out | head -1)
taskset -c 1 /work/main/target/release/iomux load --addr $port --conns 100 --size 64 --duration 5 --warmup 0.5 > /tmp/l-$lab.out 2>&1 & lpid=$!
sleep 1.5
perf record -q -e cpu-clock -C 0 -g -o /tmp/perf-$lab.data -- sleep 3 2>/dev/null
wait $lpid; kill $spid; wait $spid 2>/dev/null
perf report -i /tmp/perf-$lab.data --no-children --sort sym --stdio 2>/dev/null | grep -E "^ +[0-9]" > /tmp/rep-$lab.txt
perf report -i /tmp/perf-$lab.data --children --sort sym --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" > /tmp/repc-$lab.txt
