#!/usr/bin/env python3
"""Scores `kindling butane` against the reference Butane's labels in a corpus directory.

Usage: score.py KINDLING CORPUS [--show N]

For each case: the outcome (clean / nonstrict-only / fail) must match; when both produce a
config, the configs must be equal after decoding data URLs (gzip undone, `compression`
dropped, nulls dropped); the first finding's line:column must match the reference's.
"""
import base64, gzip, json, os, re, subprocess, sys, urllib.parse

def decode(url):
    head, _, data = url[5:].partition(',')
    raw = base64.b64decode(data) if head.endswith(';base64') else urllib.parse.unquote_to_bytes(data)
    return raw

def norm(value):
    if isinstance(value, dict):
        out = {}
        source = value.get('source')
        decoded = isinstance(source, str) and source.startswith('data:')
        for k, v in value.items():
            if v is None:
                continue
            if decoded and k == 'compression':
                continue
            if decoded and k == 'source':
                raw = decode(v)
                if value.get('compression') == 'gzip':
                    try:
                        raw = gzip.decompress(raw)
                    except Exception:
                        pass
                out[k] = {'decoded': raw.decode('latin1')}
                continue
            out[k] = norm(v)
        return out
    if isinstance(value, list):
        return [norm(v) for v in value]
    return value

def first_place(text):
    m = re.search(r'--> [^\n]*?:(\d+):(\d+)', text)
    return (int(m.group(1)), int(m.group(2))) if m else None

def our_place(stderr):
    try:
        report = json.loads(stderr)
        for d in report:
            if 'line' in d:
                return (d['line'], d['column'])
    except Exception:
        pass
    return None

def main():
    # The binary runs inside each case's directory: make both paths absolute first.
    kindling, corpus = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    show = int(sys.argv[sys.argv.index('--show') + 1]) if '--show' in sys.argv else 0
    rows = [l.rstrip('\n').split('\t') for l in open(os.path.join(corpus, 'LABELS.extra.tsv'))][1:]
    files_dirs = {l.split('\t')[0]: l.split('\t')[3] for l in list(open(os.path.join(corpus, 'LABELS.tsv')))[1:]}
    total = outcome_ok = output_ok = output_n = place_ok = place_n = 0
    misses = []
    for row in rows:
        case, outcome = row[0], row[1]
        args = [kindling, '--format', 'json', 'butane', case]
        if files_dirs.get(case):
            args += ['-d', files_dirs[case]]
        strict = subprocess.run(args + ['--strict'], cwd=corpus, capture_output=True)
        ours = 'clean'
        out = strict.stdout
        if strict.returncode != 0:
            loose = subprocess.run(args, cwd=corpus, capture_output=True)
            ours = 'nonstrict-only' if loose.returncode == 0 else 'fail'
            out = loose.stdout
        total += 1
        problems = []
        if ours == outcome:
            outcome_ok += 1
        else:
            problems.append(f'outcome {ours} != {outcome}')
        name = case[len('cases/'):-len('.bu')]
        expected_path = os.path.join(corpus, 'expected', name + '.ign')
        if os.path.exists(expected_path) and ours != 'fail':
            output_n += 1
            expected = norm(json.load(open(expected_path)))
            try:
                got = norm(json.loads(out))
            except Exception:
                got = None
            if got == expected:
                output_ok += 1
            else:
                problems.append('output differs')
        expected_err = open(os.path.join(corpus, 'expected', name + '.err')).read()
        want = first_place(expected_err)
        if want:
            place_n += 1
            got_place = our_place(strict.stderr.decode())
            if got_place == want:
                place_ok += 1
            else:
                problems.append(f'place {got_place} != {want}')
        if problems:
            misses.append((case, problems))
    print(f'cases: {total}')
    print(f'outcome agrees: {outcome_ok}/{total} ({100*outcome_ok/total:.1f}%)')
    print(f'same config: {output_ok}/{output_n} ({100*output_ok/max(output_n,1):.1f}%)')
    print(f'first finding at the same line:column: {place_ok}/{place_n} ({100*place_ok/max(place_n,1):.1f}%)')
    for case, problems in misses[:show]:
        print(case, '; '.join(problems))
    return misses

if __name__ == '__main__':
    main()
