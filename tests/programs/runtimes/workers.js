const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
if (isMainThread) {
  let done = 0, total = 0;
  for (let i = 0; i < 3; i++) {
    const w = new Worker(__filename, { workerData: i });
    w.on('message', (m) => { total += m; if (++done === 3) console.log(total, Date.now(), Math.random(), process.hrtime.bigint()); });
  }
} else {
  let s = 0; for (let i = 0; i < 1e6; i++) s += (i ^ workerData) % 7;
  parentPort.postMessage(s);
}
