#!/usr/bin/env python3
"""CPU samples of one process, by component: `perf script -F tid,ip,sym,dso` output in, a table out.

Usage: perf script -i perf.data -F tid,ip,sym,dso > samples.txt
       scripts/perf-categories.py samples.txt TID[,TID...]

Each sample counts for the first frame, from the leaf up, whose symbol names a known component, so runtime
leaves (malloc, retain/release, kernel socket and fsync paths) count for the component that called them.
perf's frame-pointer stacks stop at Swift async frames; the categories are therefore approximate. See
docs/benchmarks.md (Profiling).
"""
import sys, re, collections
tids = set(sys.argv[2].split(','))
rules = [
 ('fsync/io', r'fdatasync|fsync|pwrite|ext4_'),
 ('sqlite', r'sqlite3'),
 ('sqliteLayer', r'WPWithinSQLite|SQLiteConnection|SQLiteStatement|SQLiteRow|SQLiteDatabase|SQLiteArguments'),
 ('FoundationJSON', r'JSONDecoder|JSONEncoder|Decodable|Encodable|KeyedDecoding|JSONDecoderImpl|DecodingContainer'),
 ('GoJSON', r'GoJSON|Slot'),
 ('ownJSON', r'JSONValue|JSONParser|serialized'),
 ('HTTP', r'HTTP|llhttp'),
 ('RPC', r'RPC|Dispatcher'),
 ('EventBus', r'EventBus|RPCEvent|StoredEvent|EventJournal'),
 ('Store', r'Store|Committer|Ledger|Quote|Order|Purchase|Catalog'),
 ('crypto', r'HMAC|libcrypto|Token'),
 ('concurrency', r'swift_task|swift_job|AsyncTask|_Concurrency|Continuation|TaskGroup|swift_continuation'),
 ('NIO', r'NIO|EventLoop|Channel|Selector|epoll|ByteBuffer|Socket'),
 ('logging', r'Logger|Logging'),
 ('kernel-sched', r'schedule|futex|finish_task_switch'),
]
comp = [(n, re.compile(p)) for n,p in rules]
counts = collections.Counter(); total=0
cur=None; frames=[]
def flush():
    global total
    if cur is None or cur not in tids: return
    total += 1
    for f in frames:
        for n,r in comp:
            if r.search(f): counts[n]+=1; return
    counts['other:'+(frames[0][:60] if frames else '?')]+=1
for line in open(sys.argv[1]):
    if line.startswith(' ') or (line and not line[0].isspace()):
        flush(); cur=line.split()[0] if line.strip() else None; frames=[]
    elif line.strip():
        frames.append(line.strip().split(' ',1)[1] if ' ' in line.strip() else line.strip())
flush()
print('samples', total)
other=0
for k,v in counts.most_common():
    if k.startswith('other:'):
        other+=v; continue
    print(f'{k:16} {100*v/total:5.1f}%')
print(f'other            {100*other/total:5.1f}%')
for k,v in counts.most_common(25):
    if k.startswith('other:'): print('   ',v,k)
