// Never yields: the task watchdog must reset the chip.
let x = 0;
for (;;) x++;
