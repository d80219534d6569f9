// jit-workload.js SECONDS: a Node.js workload whose hot code is JIT-compiled.
// jsOuterCaller -> hotLoopInner; run with --perf-basic-prof, V8 lists the compiled code of
// both in /tmp/perf-PID.map and symbols-jit.sh expects their names in the profile.
'use strict';

function hotLoopInner(n) {
	let s = 0;
	for (let i = 0; i < n; i++)
		s = (s + i * 7) % 1000003;
	return s;
}

function jsOuterCaller(n) {
	let t = 0;
	for (let k = 0; k < 50; k++)
		t += hotLoopInner(n);
	return t;
}

const end = Date.now() + Number(process.argv[2] || 3) * 1000;
let acc = 0;
while (Date.now() < end)
	acc += jsOuterCaller(100000);
console.log(acc > 0 ? 'done' : 'unexpected');
