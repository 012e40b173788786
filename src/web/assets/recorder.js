// Push-to-talk recording: the microphone through an AudioWorklet (a ScriptProcessor where
// there is none) into 16-bit PCM WAV, so the daemon needs no Opus decoder.
"use strict";
(function () {
  const WORKLET = `class Tap extends AudioWorkletProcessor {
    process(inputs) { const ch = inputs[0] && inputs[0][0]; if (ch) this.port.postMessage(ch.slice(0)); return true; }
  }
  registerProcessor("capcom-tap", Tap);`;

  function wav(chunks, rate) {
    let n = 0;
    for (const c of chunks) n += c.length;
    const buf = new ArrayBuffer(44 + n * 2);
    const v = new DataView(buf);
    const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
    str(0, "RIFF"); v.setUint32(4, 36 + n * 2, true); str(8, "WAVE");
    str(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
    str(36, "data"); v.setUint32(40, n * 2, true);
    let o = 44;
    for (const c of chunks) for (let i = 0; i < c.length; i++, o += 2) {
      const s = Math.max(-1, Math.min(1, c[i]));
      v.setInt16(o, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buf], { type: "audio/wav" });
  }

  class Recorder {
    async open() {
      if (this.ctx) return;
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
      // 48 kHz, the rate the daemon sizes its upload limit by; the browser resamples the microphone
      const Ctx = window.AudioContext || window.webkitAudioContext;
      try { this.ctx = new Ctx({ sampleRate: 48000 }); } catch (e) { this.ctx = new Ctx(); }
      this.source = this.ctx.createMediaStreamSource(this.stream);
      this.chunks = []; this.on = false;
      // each chunk's loudness (RMS, 0..1) feeds the page's level meter
      const take = (data) => {
        if (!this.on) return;
        this.chunks.push(data);
        let sum = 0;
        for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
        this.level = Math.sqrt(sum / (data.length || 1));
      };
      if (this.ctx.audioWorklet) {
        const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
        await this.ctx.audioWorklet.addModule(url);
        this.node = new AudioWorkletNode(this.ctx, "capcom-tap");
        this.node.port.onmessage = (e) => take(e.data);
      } else {
        this.node = this.ctx.createScriptProcessor(4096, 1, 1);
        this.node.onaudioprocess = (e) => take(new Float32Array(e.inputBuffer.getChannelData(0)));
      }
      const mute = this.ctx.createGain(); mute.gain.value = 0;
      this.source.connect(this.node); this.node.connect(mute); mute.connect(this.ctx.destination);
    }
    async start() { await this.open(); if (this.ctx.state === "suspended") await this.ctx.resume(); this.chunks = []; this.level = 0; this.on = true; }
    stop() { this.on = false; const out = wav(this.chunks, this.ctx.sampleRate); this.chunks = []; return out; }
  }
  window.CapcomRecorder = Recorder;
  window.capcomWav = wav;
})();
