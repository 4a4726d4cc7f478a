# Python: recursion, dict and string work, a generator.
import json
def walk(n):
    return 1 if n < 2 else walk(n - 1) + walk(n - 2)
def words(n):
    for i in range(n):
        yield "w%d" % (i % 7919)
def count(n):
    seen = {}
    for w in words(n):
        seen[w] = seen.get(w, 0) + 1
    return seen
print(walk(24), len(count(600000)), len(json.dumps(list(range(200000)))))
