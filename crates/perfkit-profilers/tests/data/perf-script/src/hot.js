// Node: JIT-compiled functions, a class, closures and JSON.
class Grid { constructor(n) { this.n = n; this.cells = new Float64Array(n * n); }
  step() { const n = this.n, c = this.cells; for (let i = 1; i < n - 1; i++) for (let j = 1; j < n - 1; j++) c[i*n+j] = (c[i*n+j-1] + c[i*n+j+1] + c[(i-1)*n+j] + c[(i+1)*n+j]) * 0.25 + 1; } }
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
const g = new Grid(300);
for (let k = 0; k < 60; k++) g.step();
let s = 0; for (let k = 0; k < 20; k++) s += JSON.stringify(Array.from({length: 20000}, (_, i) => ({i, k}))).length;
console.log(fib(30), s, g.cells[500]);
