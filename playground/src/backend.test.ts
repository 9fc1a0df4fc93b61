import { getBackend } from '@normlab/tensor';
import { describe, expect, it } from 'vitest';
import { chooseBackend, isSoftwareRenderer } from './backend.js';

describe('the backend choice', () => {
  it('treats software rasterizers as no GPU', () => {
    expect(isSoftwareRenderer('ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)')).toBe(true);
    expect(isSoftwareRenderer('llvmpipe (LLVM 15.0.6, 256 bits)')).toBe(true);
    expect(isSoftwareRenderer('ANGLE (Microsoft, Microsoft Basic Render Driver Direct3D11 vs_5_0 ps_5_0, D3D11)')).toBe(true);
    expect(isSoftwareRenderer('ANGLE (NVIDIA, NVIDIA GeForce RTX 3080 Direct3D11 vs_5_0 ps_5_0, D3D11)')).toBe(false);
    expect(isSoftwareRenderer('ANGLE (NVIDIA Corporation, NVIDIA H200/PCIe/SSE2, OpenGL 4.5.0)')).toBe(false);
    expect(isSoftwareRenderer('Mesa Intel(R) UHD Graphics 620 (KBL GT2)')).toBe(false);
    expect(isSoftwareRenderer('Apple M2')).toBe(false);
  });

  it('runs on cpu, saying why, where there is no WebGL2 (Node) or when cpu is asked for', async () => {
    const auto = await chooseBackend('auto');
    expect(auto).toMatchObject({ backend: 'cpu', renderer: null, reason: 'this browser offers no WebGL2' });
    expect(getBackend()).toBe('cpu');
    expect((await chooseBackend('gpu')).backend).toBe('cpu');
    expect((await chooseBackend('cpu')).reason).toBe('the cpu backend was chosen');
  });
});
