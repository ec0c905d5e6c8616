/*
 * Model builders: R(2+1)D-d, R3D, MC3 and the frame-based 2D ResNet, as op
 * programs with parameters named after torchvision's state_dict.
 *
 * R(2+1)D follows Tran et al. 2018 and the VMZ Caffe2 code (paper.md 1.2):
 * stem 1x7x7 3->45 then 3x1x1 45->64; a (2+1)D conv of Nin->Nout is a 1x3x3
 * conv to M channels, BN, ReLU, then a 3x1x1 conv to Nout, with
 * M = floor(27 Nin Nout / (9 Nin + 3 Nout)) taken per conv (Caffe2, IG-65M
 * weights) or once per block from the block's (inplanes, planes)
 * (torchvision). Block counts per depth as VMZ's BLOCK_CONFIG. The 2D
 * baseline is torchvision's ResNet run on every frame (kernels 1xkxk): the
 * global pool over T, H, W before the linear classifier makes its logits the
 * mean of the per-frame logits.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/nn.h"

typedef struct builder {
    vida_model *m;
    int cap_params, cap_ops, cap_slots;
    int failed;
} builder;

static void *grow(void *arr, int *cap, int need, size_t elem, int *failed)
{
    void *n;
    int newcap;
    if (need <= *cap)
        return arr;
    newcap = *cap ? *cap * 2 : 64;
    while (newcap < need)
        newcap *= 2;
    n = vidai_calloc((size_t)newcap, elem);
    if (!n) {
        *failed = 1;
        return arr;
    }
    if (arr)
        memcpy(n, arr, (size_t)*cap * elem);
    vidai_free(arr);
    *cap = newcap;
    return n;
}

static int new_slot(builder *b, int c)
{
    vida_model *m = b->m;
    m->slots = grow(m->slots, &b->cap_slots, m->n_slots + 1, sizeof *m->slots, &b->failed);
    if (b->failed)
        return 0;
    m->slots[m->n_slots].c = c;
    return m->n_slots++;
}

static vidai_op *new_op(builder *b, int type, int in)
{
    vida_model *m = b->m;
    vidai_op *op;
    m->ops = grow(m->ops, &b->cap_ops, m->n_ops + 1, sizeof *m->ops, &b->failed);
    if (b->failed)
        return NULL;
    op = &m->ops[m->n_ops++];
    memset(op, 0, sizeof *op);
    op->type = type;
    op->in = in;
    op->in2 = -1;
    op->weight = op->bias = op->rmean = op->rvar = op->nbt = -1;
    op->fold_bn = -1;
    op->eval_out = -1;
    return op;
}

static int new_param(builder *b, const char *name, int kind, int learnable, int ndim,
                     const int64_t *shape)
{
    vida_model *m = b->m;
    vidai_param *p;
    int i;
    m->params = grow(m->params, &b->cap_params, m->n_params + 1, sizeof *m->params, &b->failed);
    if (b->failed)
        return -1;
    p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    p->name = vidai_strdup(name);
    if (!p->name) {
        b->failed = 1;
        return -1;
    }
    p->kind = kind;
    p->learnable = learnable;
    p->ndim = ndim;
    p->numel = 1;
    for (i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= shape[i];
    }
    if (kind != VIDAI_PARAM_COUNT) {
        p->data = vidai_calloc((size_t)p->numel, sizeof(float));
        if (!p->data) {
            vidai_free(p->name);
            b->failed = 1;
            return -1;
        }
    }
    return m->n_params++;
}

/* A bias-free convolution named NAME.weight. twod: the file stores [O][I][kH][kW]. */
static int conv(builder *b, const char *name, int in, int cout, int kt, int kh, int kw, int st,
                int sh, int sw, int pt, int ph, int pw, int twod)
{
    char pname[256];
    int64_t shape[5];
    int cin, out, w;
    vidai_op *op;
    if (b->failed)
        return 0;
    cin = b->m->slots[in].c;
    shape[0] = cout;
    shape[1] = cin;
    if (twod) {
        shape[2] = kh;
        shape[3] = kw;
    } else {
        shape[2] = kt;
        shape[3] = kh;
        shape[4] = kw;
    }
    snprintf(pname, sizeof pname, "%s.weight", name);
    w = new_param(b, pname, VIDAI_PARAM_CONV, 1, twod ? 4 : 5, shape);
    out = new_slot(b, cout);
    op = new_op(b, VIDAI_OP_CONV, in);
    if (b->failed)
        return 0;
    b->m->params[w].cout = cout;
    b->m->params[w].cin = cin;
    b->m->params[w].kt = kt;
    b->m->params[w].kh = kh;
    b->m->params[w].kw = kw;
    op->out = out;
    op->weight = w;
    op->cout = cout;
    op->kt = kt, op->kh = kh, op->kw = kw;
    op->st = st, op->sh = sh, op->sw = sw;
    op->pt = pt, op->ph = ph, op->pw = pw;
    return out;
}

static int batchnorm(builder *b, const char *name, int in)
{
    char pname[256];
    int64_t shape[1];
    int c, out, g, be, rm, rv, nb;
    vidai_op *op;
    if (b->failed)
        return 0;
    c = b->m->slots[in].c;
    shape[0] = c;
    snprintf(pname, sizeof pname, "%s.weight", name);
    g = new_param(b, pname, VIDAI_PARAM_VEC, 1, 1, shape);
    snprintf(pname, sizeof pname, "%s.bias", name);
    be = new_param(b, pname, VIDAI_PARAM_VEC, 1, 1, shape);
    snprintf(pname, sizeof pname, "%s.running_mean", name);
    rm = new_param(b, pname, VIDAI_PARAM_VEC, 0, 1, shape);
    snprintf(pname, sizeof pname, "%s.running_var", name);
    rv = new_param(b, pname, VIDAI_PARAM_VEC, 0, 1, shape);
    snprintf(pname, sizeof pname, "%s.num_batches_tracked", name);
    nb = new_param(b, pname, VIDAI_PARAM_COUNT, 0, 0, shape);
    out = new_slot(b, c);
    op = new_op(b, VIDAI_OP_BN, in);
    if (b->failed)
        return 0;
    op->out = out;
    op->weight = g;
    op->bias = be;
    op->rmean = rm;
    op->rvar = rv;
    op->nbt = nb;
    op->save_mean = vidai_be_alloc(b->m->ctx, (size_t)c * sizeof(float));
    op->save_invstd = vidai_be_alloc(b->m->ctx, (size_t)c * sizeof(float));
    if (!op->save_mean || !op->save_invstd)
        b->failed = 1;
    return out;
}

static int relu(builder *b, int in)
{
    int out;
    vidai_op *op;
    if (b->failed)
        return 0;
    out = new_slot(b, b->m->slots[in].c);
    op = new_op(b, VIDAI_OP_RELU, in);
    if (b->failed)
        return 0;
    op->out = out;
    return out;
}

static int add_relu(builder *b, int in, int in2)
{
    int out;
    vidai_op *op;
    if (b->failed)
        return 0;
    out = new_slot(b, b->m->slots[in].c);
    op = new_op(b, VIDAI_OP_ADD_RELU, in);
    if (b->failed)
        return 0;
    op->in2 = in2;
    op->out = out;
    return out;
}

static int maxpool(builder *b, int in, int kt, int kh, int kw, int st, int sh, int sw, int pt,
                   int ph, int pw)
{
    int out;
    vidai_op *op;
    if (b->failed)
        return 0;
    out = new_slot(b, b->m->slots[in].c);
    op = new_op(b, VIDAI_OP_MAXPOOL, in);
    if (b->failed)
        return 0;
    op->out = out;
    op->cout = b->m->slots[in].c;
    op->kt = kt, op->kh = kh, op->kw = kw;
    op->st = st, op->sh = sh, op->sw = sw;
    op->pt = pt, op->ph = ph, op->pw = pw;
    return out;
}

static int simple_op(builder *b, int type, int in)
{
    int out;
    vidai_op *op;
    if (b->failed)
        return 0;
    out = new_slot(b, b->m->slots[in].c);
    op = new_op(b, type, in);
    if (b->failed)
        return 0;
    op->out = out;
    return out;
}

static int linear(builder *b, const char *name, int in, int nout)
{
    char pname[256];
    int64_t shape[2];
    int out, w, bias;
    vidai_op *op;
    if (b->failed)
        return 0;
    shape[0] = nout;
    shape[1] = b->m->slots[in].c;
    snprintf(pname, sizeof pname, "%s.weight", name);
    w = new_param(b, pname, VIDAI_PARAM_LINEAR, 1, 2, shape);
    snprintf(pname, sizeof pname, "%s.bias", name);
    bias = new_param(b, pname, VIDAI_PARAM_VEC, 1, 1, shape);
    out = new_slot(b, nout);
    op = new_op(b, VIDAI_OP_LINEAR, in);
    if (b->failed)
        return 0;
    op->out = out;
    op->weight = w;
    op->bias = bias;
    return out;
}

static int midplanes(int nin, int nout)
{
    return (int)((27LL * nin * nout) / (9LL * nin + 3LL * nout));
}

/*
 * One "conv_builder" of torchvision's VideoResNet, named NAME (a Sequential
 * index such as "layer1.0.conv1.0"), for the arch, with stride s.
 */
static int conv_block(builder *b, const char *name, int in, int cout, int mid, int s, int kind)
{
    char sub[256];
    int x;
    switch (kind) {
    case VIDA_ARCH_R2PLUS1D:
        snprintf(sub, sizeof sub, "%s.0", name);
        x = conv(b, sub, in, mid, 1, 3, 3, 1, s, s, 0, 1, 1, 0);
        snprintf(sub, sizeof sub, "%s.1", name);
        x = batchnorm(b, sub, x);
        x = relu(b, x);
        snprintf(sub, sizeof sub, "%s.3", name);
        return conv(b, sub, x, cout, 3, 1, 1, s, 1, 1, 1, 0, 0, 0);
    case VIDA_ARCH_R3D:
        return conv(b, name, in, cout, 3, 3, 3, s, s, s, 1, 1, 1, 0);
    case VIDA_ARCH_MC3: /* Conv3DNoTemporal */
        return conv(b, name, in, cout, 1, 3, 3, 1, s, s, 0, 1, 1, 0);
    default: /* VIDA_ARCH_R2D */
        return conv(b, name, in, cout, 1, 3, 3, 1, s, s, 0, 1, 1, 1);
    }
}

/* Layers per stage and whether blocks are bottlenecks, or -1 if unknown. */
static int depth_config(int arch, int depth, int layers[4], int *bottleneck)
{
    static const struct {
        int depth, l[4], bottle;
    } video[] = {{10, {1, 1, 1, 1}, 0},  {16, {2, 2, 2, 1}, 0},  {18, {2, 2, 2, 2}, 0},
                 {26, {2, 2, 2, 2}, 1},  {34, {3, 4, 6, 3}, 0},  {50, {3, 4, 6, 3}, 1},
                 {101, {3, 4, 23, 3}, 1}, {152, {3, 8, 36, 3}, 1}};
    size_t i;
    int ok = 0;
    switch (arch) {
    case VIDA_ARCH_R2PLUS1D: ok = 1; break;
    case VIDA_ARCH_R3D: ok = depth == 18 || depth == 34; break;
    case VIDA_ARCH_MC3: ok = depth == 18; break;
    case VIDA_ARCH_R2D: ok = depth == 18 || depth == 34 || depth == 50 || depth == 101 || depth == 152; break;
    default: return -1;
    }
    if (!ok)
        return -1;
    for (i = 0; i < sizeof video / sizeof video[0]; i++) {
        if (video[i].depth == depth) {
            memcpy(layers, video[i].l, sizeof video[i].l);
            *bottleneck = video[i].bottle;
            return 0;
        }
    }
    return -1;
}

const char *vidai_arch_name(int arch)
{
    switch (arch) {
    case VIDA_ARCH_R2PLUS1D: return "r2plus1d";
    case VIDA_ARCH_R3D: return "r3d";
    case VIDA_ARCH_MC3: return "mc3";
    case VIDA_ARCH_R2D: return "r2d";
    default: return NULL;
    }
}

int vidai_arch_from_name(const char *s)
{
    int a;
    for (a = VIDA_ARCH_R2PLUS1D; a <= VIDA_ARCH_R2D; a++)
        if (strcmp(s, vidai_arch_name(a)) == 0)
            return a;
    return -1;
}

static int scaled(int c, float width)
{
    int v = (int)lroundf((float)c * width);
    return v < 1 ? 1 : v;
}

static void build_net(builder *b, const vida_model_params *p, const int layers[4], int bottleneck)
{
    const int arch = p->arch, twod = arch == VIDA_ARCH_R2D;
    const int expansion = bottleneck ? 4 : 1;
    char name[64], sub[256];
    int x, inplanes, li, bi;

    x = new_slot(b, 3); /* slot 0: the input */
    /* stem */
    if (arch == VIDA_ARCH_R2PLUS1D) {
        x = conv(b, "stem.0", x, scaled(45, p->width), 1, 7, 7, 1, 2, 2, 0, 3, 3, 0);
        x = relu(b, batchnorm(b, "stem.1", x));
        x = conv(b, "stem.3", x, scaled(64, p->width), 3, 1, 1, 1, 1, 1, 1, 0, 0, 0);
        x = relu(b, batchnorm(b, "stem.4", x));
    } else if (twod) {
        x = conv(b, "conv1", x, scaled(64, p->width), 1, 7, 7, 1, 2, 2, 0, 3, 3, 1);
        x = relu(b, batchnorm(b, "bn1", x));
    } else {
        x = conv(b, "stem.0", x, scaled(64, p->width), 3, 7, 7, 1, 2, 2, 1, 3, 3, 0);
        x = relu(b, batchnorm(b, "stem.1", x));
    }
    if (twod || p->pool1)
        x = maxpool(b, x, 1, 3, 3, 1, 2, 2, 0, 1, 1);

    inplanes = b->failed ? 0 : b->m->slots[x].c;
    for (li = 0; li < 4 && !b->failed; li++) {
        const int planes = scaled(64 << li, p->width);
        const int kind = arch == VIDA_ARCH_MC3 && li == 0 ? VIDA_ARCH_R3D : arch;
        for (bi = 0; bi < layers[li] && !b->failed; bi++) {
            const int s = bi == 0 && li > 0 ? 2 : 1;
            int y, shortcut = x;
            snprintf(name, sizeof name, "layer%d.%d", li + 1, bi);
            if (twod) {
                if (!bottleneck) {
                    snprintf(sub, sizeof sub, "%s.conv1", name);
                    y = conv_block(b, sub, x, planes, 0, s, kind);
                    snprintf(sub, sizeof sub, "%s.bn1", name);
                    y = relu(b, batchnorm(b, sub, y));
                    snprintf(sub, sizeof sub, "%s.conv2", name);
                    y = conv_block(b, sub, y, planes, 0, 1, kind);
                    snprintf(sub, sizeof sub, "%s.bn2", name);
                    y = batchnorm(b, sub, y);
                } else {
                    snprintf(sub, sizeof sub, "%s.conv1", name);
                    y = conv(b, sub, x, planes, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1);
                    snprintf(sub, sizeof sub, "%s.bn1", name);
                    y = relu(b, batchnorm(b, sub, y));
                    snprintf(sub, sizeof sub, "%s.conv2", name);
                    y = conv_block(b, sub, y, planes, 0, s, kind);
                    snprintf(sub, sizeof sub, "%s.bn2", name);
                    y = relu(b, batchnorm(b, sub, y));
                    snprintf(sub, sizeof sub, "%s.conv3", name);
                    y = conv(b, sub, y, planes * 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1);
                    snprintf(sub, sizeof sub, "%s.bn3", name);
                    y = batchnorm(b, sub, y);
                }
            } else if (!bottleneck) {
                const int block_mid = midplanes(inplanes, planes);
                const int per_conv = p->midplanes == VIDA_MIDPLANES_PER_CONV;
                snprintf(sub, sizeof sub, "%s.conv1.0", name);
                y = conv_block(b, sub, x, planes, per_conv ? midplanes(inplanes, planes) : block_mid,
                               s, kind);
                snprintf(sub, sizeof sub, "%s.conv1.1", name);
                y = relu(b, batchnorm(b, sub, y));
                snprintf(sub, sizeof sub, "%s.conv2.0", name);
                y = conv_block(b, sub, y, planes, per_conv ? midplanes(planes, planes) : block_mid,
                               1, kind);
                snprintf(sub, sizeof sub, "%s.conv2.1", name);
                y = batchnorm(b, sub, y);
            } else {
                const int mid = p->midplanes == VIDA_MIDPLANES_PER_CONV ? midplanes(planes, planes)
                                                                       : midplanes(inplanes, planes);
                snprintf(sub, sizeof sub, "%s.conv1.0", name);
                y = conv(b, sub, x, planes, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
                snprintf(sub, sizeof sub, "%s.conv1.1", name);
                y = relu(b, batchnorm(b, sub, y));
                snprintf(sub, sizeof sub, "%s.conv2.0", name);
                y = conv_block(b, sub, y, planes, mid, s, kind);
                snprintf(sub, sizeof sub, "%s.conv2.1", name);
                y = relu(b, batchnorm(b, sub, y));
                snprintf(sub, sizeof sub, "%s.conv3.0", name);
                y = conv(b, sub, y, planes * 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
                snprintf(sub, sizeof sub, "%s.conv3.1", name);
                y = batchnorm(b, sub, y);
            }
            if (bi == 0 && (s != 1 || inplanes != planes * expansion)) {
                /* projection shortcut, after the branch as in state_dict order; 1x1x1
                 * with the conv builder's downsample stride */
                const int ts = kind == VIDA_ARCH_R3D || kind == VIDA_ARCH_R2PLUS1D ? s : 1;
                snprintf(sub, sizeof sub, "%s.downsample.0", name);
                shortcut = conv(b, sub, x, planes * expansion, 1, 1, 1, ts, s, s, 0, 0, 0, twod);
                snprintf(sub, sizeof sub, "%s.downsample.1", name);
                shortcut = batchnorm(b, sub, shortcut);
            }
            x = add_relu(b, y, shortcut);
            inplanes = planes * expansion;
        }
    }
    x = simple_op(b, VIDAI_OP_GAP, x);
    if (b->failed)
        return;
    b->m->feature_slot = x;
    b->m->feature_dim = b->m->slots[x].c;
    if (p->dropout > 0)
        x = simple_op(b, VIDAI_OP_DROPOUT, x);
    x = linear(b, "fc", x, p->num_classes);
    b->m->logits_slot = x;
}

/* The last eval-mode op that reads each slot (eval buffers are released after it). */
static void plan_eval_liveness(vida_model *m)
{
    int i;
    for (i = 0; i < m->n_slots; i++)
        m->slots[i].eval_last_read = -1;
    for (i = 0; i < m->n_ops; i++) {
        const vidai_op *op = &m->ops[i];
        if (op->eval_skip)
            continue;
        m->slots[op->in].eval_last_read = i;
        if (op->in2 >= 0)
            m->slots[op->in2].eval_last_read = i;
    }
}

/* Marks conv -> BN (-> ReLU) chains whose intermediate slots have no other reader (eval), and
   BN -> ReLU pairs (training); counts each slot's readers. */
static void plan_fusion(vida_model *m)
{
    vidai_slot *sl = m->slots;
    int i, j;
    for (i = 0; i < m->n_slots; i++)
        sl[i].readers = 0, sl[i].reader = -1;
    for (i = 0; i < m->n_ops; i++) {
        sl[m->ops[i].in].readers++;
        sl[m->ops[i].in].reader = i;
        if (m->ops[i].in2 >= 0) {
            sl[m->ops[i].in2].readers++;
            sl[m->ops[i].in2].reader = i;
        }
    }
    for (i = 0; i < m->n_slots; i++)
        if (sl[i].readers != 1)
            sl[i].reader = -1;
    /* training (CUDA): BN -> ReLU with nothing else reading the BN's output */
    for (i = 0; i + 1 < m->n_ops; i++) {
        vidai_op *bn = &m->ops[i], *r = &m->ops[i + 1];
        if (bn->type == VIDAI_OP_BN && r->type == VIDAI_OP_RELU && r->in == bn->out &&
            sl[bn->out].readers == 1) {
            bn->bn_relu_train = 1;
            r->train_skip = 1;
        }
    }
    for (i = 0; i + 1 < m->n_ops; i++) {
        vidai_op *c = &m->ops[i];
        if (c->type != VIDAI_OP_CONV)
            continue;
        for (j = i + 1; j < m->n_ops; j++)
            if (m->ops[j].in == c->out)
                break;
        if (j == m->n_ops || m->ops[j].type != VIDAI_OP_BN || sl[c->out].readers != 1)
            continue;
        c->fold_bn = j;
        c->eval_out = m->ops[j].out;
        m->ops[j].eval_skip = 1;
        if (j + 1 < m->n_ops && m->ops[j + 1].type == VIDAI_OP_RELU &&
            m->ops[j + 1].in == m->ops[j].out && sl[m->ops[j].out].readers == 1) {
            c->fuse_relu = 1;
            c->eval_out = m->ops[j + 1].out;
            m->ops[j + 1].eval_skip = 1;
        }
    }
}

static int check_params(const vida_model_params *p)
{
    int layers[4], bottle;
    if (!vidai_arch_name(p->arch))
        return vidai_error(VIDA_EINVAL, "model params: unknown arch %d", p->arch);
    if (depth_config(p->arch, p->depth, layers, &bottle) != 0)
        return vidai_error(VIDA_EUNSUPPORTED, "model params: %s has no depth %d "
                           "(r2plus1d: 10,16,18,26,34,50,101,152; r3d: 18,34; mc3: 18; "
                           "r2d: 18,34,50,101,152)", vidai_arch_name(p->arch), p->depth);
    if (p->midplanes != VIDA_MIDPLANES_PER_CONV && p->midplanes != VIDA_MIDPLANES_PER_BLOCK)
        return vidai_error(VIDA_EINVAL, "model params: unknown midplanes rule %d", p->midplanes);
    if (p->pool1 != 0 && p->pool1 != 1)
        return vidai_error(VIDA_EINVAL, "model params: pool1 must be 0 or 1, not %d", p->pool1);
    if (p->num_classes < 1 || p->num_classes > 1000000)
        return vidai_error(VIDA_EINVAL, "model params: num_classes %d out of range [1, 1000000]",
                           p->num_classes);
    if (!(p->width >= 0.0625f && p->width <= 16.0f))
        return vidai_error(VIDA_EINVAL, "model params: width %g out of range [0.0625, 16]",
                           (double)p->width);
    if (!(p->bn_eps > 0.0f && p->bn_eps < 1.0f))
        return vidai_error(VIDA_EINVAL, "model params: bn_eps %g out of range (0, 1)",
                           (double)p->bn_eps);
    if (!(p->bn_momentum >= 0.0f && p->bn_momentum <= 1.0f))
        return vidai_error(VIDA_EINVAL, "model params: bn_momentum %g out of range [0, 1]",
                           (double)p->bn_momentum);
    if (!(p->dropout >= 0.0f && p->dropout < 1.0f))
        return vidai_error(VIDA_EINVAL, "model params: dropout %g out of range [0, 1)",
                           (double)p->dropout);
    return VIDA_OK;
}

int vidai_model_build(vida_model **out, vida_context *ctx, const vida_model_params *p)
{
    builder b;
    vida_model *m;
    int layers[4], bottleneck, rc;
    *out = NULL;
    rc = check_params(p);
    if (rc != VIDA_OK)
        return rc;
    depth_config(p->arch, p->depth, layers, &bottleneck);
    m = vidai_calloc(1, sizeof *m);
    if (!m)
        return VIDA_ENOMEM;
    m->refcount = 1;
    m->ctx = ctx;
    vidai_context_ref(ctx);
    m->p = *p;
    memset(&b, 0, sizeof b);
    b.m = m;
    build_net(&b, p, layers, bottleneck);
    if (b.failed) {
        vida_model_free(m);
        return vidai_error(VIDA_ENOMEM, "out of memory building %s-%d", vidai_arch_name(p->arch),
                           p->depth);
    }
    plan_fusion(m);
    plan_eval_liveness(m);
    m->slot_buf = vidai_malloc((size_t)m->n_slots * sizeof(int));
    if (!m->slot_buf) {
        vida_model_free(m);
        return VIDA_ENOMEM;
    }
    *out = m;
    return VIDA_OK;
}

int vidai_model_find_param(const vida_model *m, const char *name)
{
    int i;
    for (i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return i;
    return -1;
}

typedef struct init_job {
    vida_model *m;
    uint64_t key;
} init_job;

/* data[j] = std * N(0, 1), the pair (2k, 2k+1) from one Box-Muller draw. */
static void fill_normal(float *data, int64_t n, float std, uint64_t key)
{
    int64_t j;
    float a, b;
    for (j = 0; j + 1 < n; j += 2) {
        vidai_rng_normal2(key, (uint64_t)j / 2, &a, &b);
        data[j] = std * a;
        data[j + 1] = std * b;
    }
    if (j < n) {
        vidai_rng_normal2(key, (uint64_t)j / 2, &a, &b);
        data[j] = std * a;
    }
}

static void init_param(void *arg, int64_t i)
{
    const init_job *job = arg;
    vidai_param *p = &job->m->params[i];
    const uint64_t pkey = vidai_rng_u64(job->key, (uint64_t)i);
    const char *leaf = strrchr(p->name, '.');
    int64_t j;
    leaf = leaf ? leaf + 1 : p->name;
    if (p->kind == VIDAI_PARAM_CONV) {
        /* kaiming_normal_(mode="fan_out", nonlinearity="relu"), as torchvision */
        const double fan_out = (double)p->cout * p->kt * p->kh * p->kw;
        fill_normal(p->data, p->numel, (float)sqrt(2.0 / fan_out), pkey);
    } else if (p->kind == VIDAI_PARAM_LINEAR) {
        fill_normal(p->data, p->numel, 0.01f, pkey);
    } else if (p->kind == VIDAI_PARAM_VEC) {
        const float v = strcmp(leaf, "weight") == 0 || strcmp(leaf, "running_var") == 0;
        for (j = 0; j < p->numel; j++)
            p->data[j] = v;
    } else {
        p->count = 0;
    }
}

void vidai_model_init_weights(vida_model *m)
{
    init_job job;
    job.m = m;
    job.key = vidai_hash64(m->ctx->seed ^ 0x6d6f64656c696e69ull); /* "modelini" */
    vidai_pool_run(m->ctx->pool, m->n_params, init_param, &job);
    vidai_model_weights_changed(m);
}
