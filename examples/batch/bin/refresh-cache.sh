#!/bin/sh
echo "refreshing $1 cache"
i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo "  shard $i/3 done"; sleep 0.3; done
