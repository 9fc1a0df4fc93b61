// Each file registers its kernels for backend 'cpu' on import.
import './elementwise.js';
import './reduce.js';
import './shape.js';
import './matmul.js';
import './conv.js';
import './pool.js';
