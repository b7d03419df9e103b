const ok = 1;
const broken: number = (;
trace(String(ok + broken));
